with latest as (
    {{ latest_per_key(source('airbyte', 'users'), 'id', 'updated_at desc, _airbyte_extracted_at desc') }}
)

select
    cast(id as {{ dbt.type_bigint() }}) as user_id,
    cast(name as {{ dbt.type_string() }}) as user_name,
    cast(email as {{ dbt.type_string() }}) as email,
    cast(age as {{ dbt.type_int() }}) as age,
    cast(gender as {{ dbt.type_string() }}) as gender,
    cast(nationality as {{ dbt.type_string() }}) as nationality,
    cast(occupation as {{ dbt.type_string() }}) as occupation,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    cast(_airbyte_extracted_at as {{ dbt.type_timestamp() }}) as extracted_at
from latest
