{%- set raw_types = column_types(source('airbyte', 'purchases')) %}
with latest as (
    {{ latest_per_key(source('airbyte', 'purchases'), 'id', ['updated_at', '_airbyte_extracted_at']) }}
)

select
    cast(id as {{ dbt.type_bigint() }}) as purchase_id,
    cast(user_id as {{ dbt.type_bigint() }}) as user_id,
    cast(product_id as {{ dbt.type_bigint() }}) as product_id,
    {{ to_utc('added_to_cart_at', raw_types) }} as added_to_cart_at,
    {{ to_utc('purchased_at', raw_types) }} as purchased_at,
    {{ to_utc('returned_at', raw_types) }} as returned_at,
    {{ to_utc('created_at', raw_types) }} as created_at,
    {{ to_utc('updated_at', raw_types) }} as updated_at,
    {{ to_utc('_airbyte_extracted_at', raw_types) }} as extracted_at
from latest
