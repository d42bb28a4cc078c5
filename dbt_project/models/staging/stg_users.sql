{%- set raw_types = column_types(source('airbyte', 'users')) %}
with latest as (
    {{ latest_per_key(source('airbyte', 'users'), 'id', ['updated_at', '_airbyte_extracted_at']) }}
)

select
    cast(id as {{ dbt.type_bigint() }}) as user_id,
    cast(name as {{ dbt.type_string() }}) as user_name,
    cast(email as {{ dbt.type_string() }}) as email,
    cast(age as {{ dbt.type_int() }}) as age,
    cast(gender as {{ dbt.type_string() }}) as gender,
    cast(nationality as {{ dbt.type_string() }}) as nationality,
    cast(occupation as {{ dbt.type_string() }}) as occupation,
    {{ to_utc('created_at', raw_types) }} as created_at,
    {{ to_utc('updated_at', raw_types) }} as updated_at,
    {{ to_utc('_airbyte_extracted_at', raw_types) }} as extracted_at
from latest
