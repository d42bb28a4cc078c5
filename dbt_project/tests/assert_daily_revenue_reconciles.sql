-- The daily mart must account for every purchase and every unit of revenue in the fact table.
with fact as (
    select count(*) as purchases, coalesce(sum(amount), 0) as revenue from {{ ref('fct_purchases') }}
),
mart as (
    select coalesce(sum(purchases), 0) as purchases, coalesce(sum(gross_revenue), 0) as revenue
    from {{ ref('daily_revenue') }}
)
select fact.purchases, mart.purchases as mart_purchases, fact.revenue, mart.revenue as mart_revenue
from fact cross join mart
where fact.purchases <> mart.purchases or fact.revenue <> mart.revenue
