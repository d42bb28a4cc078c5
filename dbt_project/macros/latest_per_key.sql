{#- Keep the newest version of each record: Airbyte appends or merges, so one key can appear
    several times in a raw table. Portable SQL (no QUALIFY) for DuckDB and Snowflake. -#}
{% macro latest_per_key(relation, key, order_by) %}
select * from (
    select
        src.*,
        row_number() over (partition by {{ key }} order by {{ order_by }}) as _row_rank
    from {{ relation }} as src
) as ranked
where _row_rank = 1
{% endmacro %}
