-- Every nightly account snapshot on or before run_date: the account history the revocation and
-- login rules need (when an account stopped being enabled, every last_login_at it ever showed).
-- Partition rule: every partition on or before run_date (feed_partition 'history').
with source as (

    {{ feed_partition(source('iam', 'accounts'), 'history') }}

),

renamed as (

    select
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('system', dbt.type_string()) }} as system,
        {{ dbt.cast('account_id', dbt.type_string()) }} as account_id,
        {{ dbt.cast('username', dbt.type_string()) }} as username,
        {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
        {{ dbt.cast('status', dbt.type_string()) }} as status,
        {{ dbt.cast('is_privileged', dbt.type_boolean()) }} as is_privileged,
        {{ dbt.cast('created_at', type_timestamptz()) }} as created_at,
        {{ dbt.cast('last_login_at', type_timestamptz()) }} as last_login_at,
        {{ dbt.cast('disabled_at', type_timestamptz()) }} as disabled_at,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line
    from source

)

select * from renamed
