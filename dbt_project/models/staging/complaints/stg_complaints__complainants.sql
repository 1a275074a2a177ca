-- New or changed complainants; across nights the latest delivery wins.
-- Partition rule: every partition on or before run_date.
with source as (

    {{ feed_partition(source('complaints', 'complainants'), 'history') }}

),

renamed as (

    select
        {{ dbt.cast('complainant_id', dbt.type_string()) }} as complainant_id,
        {{ dbt.cast('full_name_token', dbt.type_string()) }} as full_name_token,
        {{ dbt.cast('national_id_token', dbt.type_string()) }} as national_id_token,
        {{ dbt.cast('phone_token', dbt.type_string()) }} as phone_token,
        {{ dbt.cast('client_id', dbt.type_string()) }} as client_id,
        {{ dbt.cast('insider_link', dbt.type_boolean()) }} as insider_link,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
