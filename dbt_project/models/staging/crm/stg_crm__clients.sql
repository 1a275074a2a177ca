-- Full snapshot of clients and their current relationship manager.
-- Partition rule: the latest partition on or before run_date.
with source as (

    {{ feed_partition(source('crm', 'clients'), 'snapshot') }}

),

renamed as (

    select
        {{ dbt.cast('client_id', dbt.type_string()) }} as client_id,
        {{ dbt.cast('client_name_token', dbt.type_string()) }} as client_name_token,
        {{ dbt.cast('segment', dbt.type_string()) }} as segment,
        {{ dbt.cast('rm_employee_id', dbt.type_string()) }} as rm_employee_id,
        {{ dbt.cast('status', dbt.type_string()) }} as status,
        {{ dbt.cast('opened_date', 'date') }} as opened_date,
        {{ dbt.cast('closed_date', 'date') }} as closed_date,
        {{ dbt.cast('aum', type_amount()) }} as aum,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
