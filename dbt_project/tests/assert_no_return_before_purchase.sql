-- A purchase cannot be returned before it was made.
select purchase_id, purchased_at, returned_at
from {{ ref('fct_purchases') }}
where returned_at is not null and returned_at < purchased_at
