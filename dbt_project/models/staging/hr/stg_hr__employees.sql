-- Full snapshot of every employee the bank has on record at the end of day D.
-- Partition rule: the latest partition on or before run_date.
with source as (

    {{ feed_partition(source('hr', 'employees'), 'snapshot') }}

),

renamed as (

    select
        {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
        {{ dbt.cast('full_name_token', dbt.type_string()) }} as full_name_token,
        {{ dbt.cast('national_id_token', dbt.type_string()) }} as national_id_token,
        {{ dbt.cast('email_token', dbt.type_string()) }} as email_token,
        {{ dbt.cast('department', dbt.type_string()) }} as department,
        {{ dbt.cast('position', dbt.type_string()) }} as position,
        {{ dbt.cast('manager_id', dbt.type_string()) }} as manager_id,
        {{ dbt.cast('employment_type', dbt.type_string()) }} as employment_type,
        {{ dbt.cast('hire_date', 'date') }} as hire_date,
        {{ dbt.cast('contract_end_date', 'date') }} as contract_end_date,
        {{ dbt.cast('status', dbt.type_string()) }} as status,
        {{ dbt.cast('notice_date', 'date') }} as notice_date,
        {{ dbt.cast('termination_date', 'date') }} as termination_date,
        {{ dbt.cast('termination_reason', dbt.type_string()) }} as termination_reason,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
