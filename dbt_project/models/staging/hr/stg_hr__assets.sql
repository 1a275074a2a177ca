-- Every asset issued (laptops, tokens, badges, phones) and when it came back.
-- Partition rule: the latest partition on or before run_date (optional table: not delivered every night).
with source as (

    {{ feed_partition(source('hr', 'assets'), 'snapshot') }}

),

renamed as (

    select
        {{ dbt.cast('asset_id', dbt.type_string()) }} as asset_id,
        {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
        {{ dbt.cast('asset_type', dbt.type_string()) }} as asset_type,
        {{ dbt.cast('issued_date', 'date') }} as issued_date,
        {{ dbt.cast('returned_date', 'date') }} as returned_date,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
