{#- A source timestamp as a UTC timestamp without time zone, on every adapter, so that marts
    bucket by the UTC date wherever they build.

    Airbyte's Snowflake destination writes date-times as TIMESTAMP_TZ with the offset the source
    gave. A plain `cast(x as timestamp)` would follow the account's TIMESTAMP_TYPE_MAPPING (NTZ by
    default) and keep the local wall clock, dropping the offset: a purchase at 23:30 -08:00 would
    land on the wrong day. Converting explicitly never depends on that setting. -#}
{% macro to_utc(column) %}
    {{- return(adapter.dispatch('to_utc')(column)) -}}
{% endmacro %}

{% macro default__to_utc(column) -%}
    cast({{ column }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- TIMESTAMP_TZ (what Airbyte writes) converts exactly; a TIMESTAMP_NTZ value is read in the
    session's TIMEZONE first, so keep the dbt user's TIMEZONE at UTC. -#}
{% macro snowflake__to_utc(column) -%}
    cast(convert_timezone('UTC', cast({{ column }} as timestamp_tz)) as timestamp_ntz)
{%- endmacro %}

{#- A naive TIMESTAMP (what PyAirbyte writes, in UTC) is read in the session's TimeZone, which
    the profile pins to UTC; a TIMESTAMPTZ converts exactly. -#}
{% macro duckdb__to_utc(column) -%}
    cast(timezone('UTC', cast({{ column }} as timestamptz)) as timestamp)
{%- endmacro %}
