select
    product_id,
    make,
    model,
    model_year,
    price,
    created_at
from {{ ref('stg_products') }}
