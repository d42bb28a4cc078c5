{#-
  The days of the time-partitioned marts that source rows loaded after `since` touch: a query
  with one column, `day`. `since`: {source table: the newest `_airbyte_extracted_at` of the
  mart's last build (ISO, with its offset)}, for each table with rows loaded since.

  A purchase's day as it is now, and as the mart holds it (an event time that moved leaves a
  day too); every day holding a purchase of a product whose row changed (the mart prices at the
  current price); every day holding a purchase no longer in the raw table. A new user touches
  no day. `elt run` runs it with `dbt show` and passes the
  days to the build as `marts_days`; for a table this macro does not know, it fails, and the
  marts are built whole.
-#}
{% macro days_touched(since) %}
{%- for table in since if table not in ('purchases', 'products') -%}
  {{ exceptions.raise_compiler_error("days_touched: no rule for the days touched by " ~ table) }}
{%- endfor -%}
{%- set purchases = source('airbyte', 'purchases') -%}
{%- set products = source('airbyte', 'products') -%}
{%- set mart = ref('fct_purchases') -%}
{%- set purchase_types = column_types(purchases) -%}
with changed_purchases as (
    select
        cast(id as {{ dbt.type_bigint() }}) as purchase_id,
        {{ to_utc('purchased_at', purchase_types) }} as purchased_at
    from {{ purchases }}
    where {{ loaded_since('purchases', since, purchase_types) }}
),

changed_products as (
    select cast(id as {{ dbt.type_bigint() }}) as product_id
    from {{ products }}
    where {{ loaded_since('products', since, column_types(products)) }}
)

select distinct day from (
    select cast({{ dbt.date_trunc('day', 'purchased_at') }} as date) as day
    from changed_purchases
    where purchased_at is not null
    union all
    select purchase_date as day
    from {{ mart }}
    where purchase_id in (select purchase_id from changed_purchases)
    union all
    select purchase_date as day
    from {{ mart }}
    where product_id in (select product_id from changed_products)
    union all  -- a purchase no longer in the raw table (a full refresh sync replaced it)
    select purchase_date as day
    from {{ mart }}
    where purchase_id not in (
        select cast(id as {{ dbt.type_bigint() }}) from {{ purchases }} where id is not null
    )
) as touched
{% endmacro %}

{#- A raw row loaded after `since[table]`; no row when the table has none loaded since. -#}
{% macro loaded_since(table, since, types) -%}
  {%- if since.get(table) -%}
    {%- set instant = modules.datetime.datetime.fromisoformat(since[table]).isoformat() -%}
    {{ to_utc('_airbyte_extracted_at', types) }} > {{ to_utc("'" ~ instant ~ "'") }}
  {%- else -%}
    1 = 0
  {%- endif -%}
{%- endmacro %}
