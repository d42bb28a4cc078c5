with latest as (
    {{ latest_per_key(source('airbyte', 'purchases'), 'id', 'updated_at desc, _airbyte_extracted_at desc') }}
)

select
    cast(id as {{ dbt.type_bigint() }}) as purchase_id,
    cast(user_id as {{ dbt.type_bigint() }}) as user_id,
    cast(product_id as {{ dbt.type_bigint() }}) as product_id,
    {{ to_utc('added_to_cart_at') }} as added_to_cart_at,
    {{ to_utc('purchased_at') }} as purchased_at,
    {{ to_utc('returned_at') }} as returned_at,
    {{ to_utc('created_at') }} as created_at,
    {{ to_utc('updated_at') }} as updated_at,
    {{ to_utc('_airbyte_extracted_at') }} as extracted_at
from latest
