-- Full snapshot of accounts in every connected system.
-- Partition rule: the latest partition on or before run_date.
with source as (

    {{ feed_partition(source('iam', 'accounts'), 'snapshot') }}

),

renamed as (

    select
        {{ dbt.cast('account_id', dbt.type_string()) }} as account_id,
        {{ dbt.cast('system', dbt.type_string()) }} as system,
        {{ dbt.cast('username', dbt.type_string()) }} as username,
        {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
        {{ dbt.cast('status', dbt.type_string()) }} as status,
        {{ dbt.cast('is_privileged', dbt.type_boolean()) }} as is_privileged,
        {{ dbt.cast('created_at', type_timestamptz()) }} as created_at,
        {{ dbt.cast('last_login_at', type_timestamptz()) }} as last_login_at,
        {{ dbt.cast('disabled_at', type_timestamptz()) }} as disabled_at,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
