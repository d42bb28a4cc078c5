{#-
  The config of a time-partitioned mart, by day on `event_time`.

  With the var `time_partitioned_marts` true, the mart is a dbt microbatch model: a run builds
  only its recent days (`lookback`: the two before today's, for late data), and
  `elt backfill --start --end` rebuilds any range of days. dbt builds its first run one day at a
  time from `marts_begin`: set it to where the history starts. Off (the default), the mart is a
  table rebuilt whole on every run.
-#}
{% macro time_partitioned(event_time) %}
  {%- if var('time_partitioned_marts', false) -%}
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
