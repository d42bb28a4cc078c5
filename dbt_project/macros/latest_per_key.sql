{#- Keep the newest version of each record: Airbyte appends or merges, so one key can appear
    several times in a raw table. `newest_by`: the columns that order versions, most telling
    first. A version without a value sorts last in each, explicitly: Snowflake puts NULLs
    first under DESC and DuckDB last, so an implicit order would pick a different version on
    each adapter. Portable SQL (no QUALIFY) for DuckDB and Snowflake. -#}
{% macro latest_per_key(relation, key, newest_by) %}
select * from (
    select
        src.*,
        row_number() over (
            partition by {{ key }}
            order by {% for column in newest_by %}{{ column }} desc nulls last{{ ", " if not loop.last }}{% endfor %}
        ) as _row_rank
    from {{ relation }} as src
) as ranked
where _row_rank = 1
{% endmacro %}
