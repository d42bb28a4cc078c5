{{ config(**time_partitioned('purchased_at')) }}
-- Completed purchases (a cart event without purchased_at is not a purchase), priced at the
-- product's current price. A product not yet synced keeps the purchase with amount 0.
select
    p.purchase_id,
    p.user_id,
    p.product_id,
    p.purchased_at,
    cast({{ dbt.date_trunc('day', 'p.purchased_at') }} as date) as purchase_date,
    p.returned_at,
    case when p.returned_at is null then 'purchased' else 'returned' end as purchase_status,
    cast(coalesce(pr.price, 0) as {{ dbt.type_numeric() }}) as amount
from {{ ref('stg_purchases') }} as p
left join {{ ref('stg_products') }} as pr on pr.product_id = p.product_id
where p.purchased_at is not null {{ only_days('p.purchased_at') }}
