-- Full history of which relationship manager served which client, and when.
-- Partition rule: the latest partition on or before run_date (optional table: not delivered every night).
with source as (

    {{ feed_partition(source('crm', 'rm_assignments'), 'snapshot') }}

),

renamed as (

    select
        {{ dbt.cast('client_id', dbt.type_string()) }} as client_id,
        {{ dbt.cast('rm_employee_id', dbt.type_string()) }} as rm_employee_id,
        {{ dbt.cast('start_date', 'date') }} as start_date,
        {{ dbt.cast('end_date', 'date') }} as end_date,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
