with latest as (
    {{ latest_per_key(source('airbyte', 'purchases'), 'id', 'updated_at desc, _airbyte_extracted_at desc') }}
)

select
    cast(id as {{ dbt.type_bigint() }}) as purchase_id,
    cast(user_id as {{ dbt.type_bigint() }}) as user_id,
    cast(product_id as {{ dbt.type_bigint() }}) as product_id,
    cast(added_to_cart_at as {{ dbt.type_timestamp() }}) as added_to_cart_at,
    cast(purchased_at as {{ dbt.type_timestamp() }}) as purchased_at,
    cast(returned_at as {{ dbt.type_timestamp() }}) as returned_at,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    cast(_airbyte_extracted_at as {{ dbt.type_timestamp() }}) as extracted_at
from latest
