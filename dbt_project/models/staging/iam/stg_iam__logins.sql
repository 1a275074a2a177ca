-- Login events during day D (incremental: a quiet night may be header-only).
-- Partition rule: every partition on or before run_date.
with source as (

    {{ feed_partition(source('iam', 'logins'), 'history') }}

),

renamed as (

    select
        {{ dbt.cast('system', dbt.type_string()) }} as system,
        {{ dbt.cast('account_id', dbt.type_string()) }} as account_id,
        {{ dbt.cast('login_at', type_timestamptz()) }} as login_at,
        {{ dbt.cast('outcome', dbt.type_string()) }} as outcome,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
