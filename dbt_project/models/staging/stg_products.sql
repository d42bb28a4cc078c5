with latest as (
    {{ latest_per_key(source('airbyte', 'products'), 'id', 'updated_at desc, _airbyte_extracted_at desc') }}
)

select
    cast(id as {{ dbt.type_bigint() }}) as product_id,
    cast(make as {{ dbt.type_string() }}) as make,
    cast(model as {{ dbt.type_string() }}) as model,
    cast(year as {{ dbt.type_int() }}) as model_year,
    cast(price as {{ dbt.type_numeric() }}) as price,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    cast(_airbyte_extracted_at as {{ dbt.type_timestamp() }}) as extracted_at
from latest
