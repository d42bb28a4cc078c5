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
-#}
{% macro time_partitioned(event_time) %}
  {%- if var('time_partitioned_marts', true) and not var('marts_whole', false) -%}
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
