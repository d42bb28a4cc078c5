with purchase_totals as (
    select
        user_id,
        count(*) as purchases,
        sum(amount) as lifetime_revenue,
        min(purchased_at) as first_purchased_at,
        max(purchased_at) as last_purchased_at
    from {{ ref('fct_purchases') }}
    where purchase_status = 'purchased'
    group by user_id
)

select
    u.user_id,
    u.user_name,
    u.email,
    u.age,
    u.gender,
    u.nationality,
    u.occupation,
    u.created_at,
    coalesce(t.purchases, 0) as purchases,
    -- a var: `elt transform --vars '{repeat_buyer_min_purchases: 3}'` (default in dbt_project.yml)
    coalesce(t.purchases, 0) >= {{ var('repeat_buyer_min_purchases') }} as is_repeat_buyer,
    coalesce(t.lifetime_revenue, 0) as lifetime_revenue,
    t.first_purchased_at,
    t.last_purchased_at
from {{ ref('stg_users') }} as u
left join purchase_totals as t on t.user_id = u.user_id
