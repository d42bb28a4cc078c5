{{ config(**time_partitioned('purchase_date')) }}
-- One row per purchase day: purchases, gross revenue, returns and net revenue.
select
    purchase_date,
    count(*) as purchases,
    sum(amount) as gross_revenue,
    sum(case when purchase_status = 'returned' then 1 else 0 end) as returns,
    sum(case when purchase_status = 'returned' then amount else 0 end) as returned_revenue,
    sum(case when purchase_status = 'purchased' then amount else 0 end) as net_revenue
from {{ ref('fct_purchases') }}
where 1 = 1 {{ only_days('purchase_date') }}
group by purchase_date
