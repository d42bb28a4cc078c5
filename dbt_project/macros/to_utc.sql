{#- A source timestamp as a UTC timestamp without time zone, on every adapter, so that marts
    bucket by the UTC date wherever they build, and whatever the session's time zone.

    `types`: the source's column types (`column_types(relation)`), which decide how a column
    converts on adapters where the session's time zone would otherwise be read into it. -#}
{% macro to_utc(column, types={}) %}
    {{- return(adapter.dispatch('to_utc')(column, types)) -}}
{% endmacro %}

{% macro default__to_utc(column, types={}) -%}
    cast({{ column }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- Airbyte's Snowflake destination writes a date-time with an offset as TIMESTAMP_TZ: it
    converts exactly. One without (TIMESTAMP_NTZ) is taken as UTC, as written: `cast(x as
    timestamp_tz)` would read it in the session's TIMEZONE (America/Los_Angeles unless the
    account or user says otherwise), and a plain `cast(x as timestamp)` would follow the
    account's TIMESTAMP_TYPE_MAPPING and drop an offset. -#}
{% macro snowflake__to_utc(column, types={}) -%}
    {%- if types.get(column | upper, '').startswith('TIMESTAMP_NTZ') -%}
        cast({{ column }} as timestamp_ntz)
    {%- else -%}
        cast(convert_timezone('UTC', cast({{ column }} as timestamp_tz)) as timestamp_ntz)
    {%- endif -%}
{%- endmacro %}

{#- A naive TIMESTAMP (what PyAirbyte writes, in UTC) is read in the session's TimeZone, which
    the profile pins to UTC; a TIMESTAMPTZ converts exactly. -#}
{% macro duckdb__to_utc(column, types={}) -%}
    cast(timezone('UTC', cast({{ column }} as timestamptz)) as timestamp)
{%- endmacro %}

{#- The column types of `relation` by UPPERCASE name, where `to_utc` needs them (Snowflake);
    empty elsewhere and while dbt parses. One query per model. -#}
{% macro column_types(relation) %}
    {{- return(adapter.dispatch('column_types')(relation)) -}}
{% endmacro %}

{% macro default__column_types(relation) %}
    {{- return({}) -}}
{% endmacro %}

{% macro snowflake__column_types(relation) %}
    {%- set types = {} -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do types.update({column.name | upper: column.dtype | upper}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(types) -}}
{% endmacro %}
