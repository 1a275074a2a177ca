-- Every nightly entitlements snapshot on or before run_date (history, not just the latest): what the
-- account history needs to know whether an account was privileged through an entitlement on a
-- given night (int_access__account_history).
-- Partition rule: every partition on or before run_date (feed_partition 'history').
with source as (

    {{ feed_partition(source('iam', 'entitlements'), 'history') }}

),

renamed as (

    select
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('system', dbt.type_string()) }} as system,
        {{ dbt.cast('account_id', dbt.type_string()) }} as account_id,
        {{ dbt.cast('entitlement', dbt.type_string()) }} as entitlement,
        {{ dbt.cast('is_privileged', dbt.type_boolean()) }} as is_privileged
    from source

)

select * from renamed
