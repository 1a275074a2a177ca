-- Full snapshot of entitlements (roles, groups, permissions) held by accounts.
-- Partition rule: the latest partition on or before run_date.
with source as (

    {{ feed_partition(source('iam', 'entitlements'), 'snapshot') }}

),

renamed as (

    select
        {{ dbt.cast('system', dbt.type_string()) }} as system,
        {{ dbt.cast('account_id', dbt.type_string()) }} as account_id,
        {{ dbt.cast('entitlement', dbt.type_string()) }} as entitlement,
        {{ dbt.cast('is_privileged', dbt.type_boolean()) }} as is_privileged,
        {{ dbt.cast('granted_at', type_timestamptz()) }} as granted_at,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
