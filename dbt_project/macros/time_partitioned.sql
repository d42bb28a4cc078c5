{#-
  The config of a time-partitioned mart, by day on `event_time`.

  With the var `time_partitioned_marts` true (the default), the mart is a dbt microbatch model:
  `elt backfill --start --end` rebuilds any range of days, one batch each, and a plain
  `dbt build` its recent days (`lookback`: the two before today's, for late data). With the
  var `marts_whole` true, it is a plain table built whole in one statement: `elt transform` and
  `elt run` set it, as they are given no days (dbt would build a missing table one batch per
  day since `marts_begin`, thousands of statements, and an existing one only its last days,
  missing older late rows). Plain dbt on an empty warehouse: `dbt build --vars '{marts_whole:
  true}'`. With `time_partitioned_marts` false, the mart is always a table.

  With the var `marts_days` (a list of ISO days), an existing mart replaces exactly those days
  in one statement each way (the `replace_days` strategy below, the model's `where` narrowed
  by `only_days`): `elt run` passes the days its new rows touch (`days_touched`), however far
  apart, where dbt's event-time window (`--event-time-start/--event-time-end`) takes one range
  and builds it one batch per day. A mart without a table yet is built whole.
-#}
{% macro time_partitioned(event_time) %}
  {%- if var('time_partitioned_marts', true) and var('marts_days', none) is not none -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'replace_days',
        'event_time': event_time,
    }) }}
  {%- elif var('time_partitioned_marts', true) and not var('marts_whole', false) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'microbatch',
        'event_time': event_time,
        'batch_size': 'day',
        'begin': var('marts_begin'),
        'lookback': 2,
    }) }}
  {%- endif -%}
  {{ return({'materialized': 'table'}) }}
{% endmacro %}

{#- `column`'s day is one of the var `marts_days`: SQL for a `where`. -#}
{% macro day_in(column, days) -%}
  {%- if days | length == 0 -%}
    1 = 0
  {%- else -%}
    cast({{ dbt.date_trunc('day', column) }} as date) in (
      {%- for day in days %}cast('{{ modules.datetime.date.fromisoformat(day | string) }}' as date){{ ", " if not loop.last }}{% endfor -%}
    )
  {%- endif -%}
{%- endmacro %}

{#- In a mart's `where`: ` and <its day is one of marts_days>` when it replaces days, else
    nothing. -#}
{% macro only_days(column) -%}
  {%- if is_incremental() and var('marts_days', none) is not none -%}
    and {{ day_in(column, var('marts_days')) }}
  {%- endif -%}
{%- endmacro %}

{#- The incremental strategy `replace_days`: the target's rows of the days given are deleted,
    and the model's rows of those days (the temporary relation) inserted. -#}
{% macro get_incremental_replace_days_sql(arg_dict) %}
  {%- set target = arg_dict['target_relation'] -%}
  {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
  delete from {{ target }} where {{ day_in(config.get('event_time'), var('marts_days')) }};
  insert into {{ target }} ({{ columns }})
  select {{ columns }} from {{ arg_dict['temp_relation'] }}
{% endmacro %}
