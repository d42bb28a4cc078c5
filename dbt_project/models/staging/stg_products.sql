{%- set raw_types = column_types(source('airbyte', 'products')) %}
with latest as (
    {{ latest_per_key(source('airbyte', 'products'), 'id', ['updated_at', '_airbyte_extracted_at']) }}
)

select
    cast(id as {{ dbt.type_bigint() }}) as product_id,
    cast(make as {{ dbt.type_string() }}) as make,
    cast(model as {{ dbt.type_string() }}) as model,
    cast(year as {{ dbt.type_int() }}) as model_year,
    cast(price as {{ dbt.type_numeric() }}) as price,
    {{ to_utc('created_at', raw_types) }} as created_at,
    {{ to_utc('updated_at', raw_types) }} as updated_at,
    {{ to_utc('_airbyte_extracted_at', raw_types) }} as extracted_at
from latest
