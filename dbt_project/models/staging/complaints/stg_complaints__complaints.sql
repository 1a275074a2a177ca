-- New or changed complaints; across nights the row with the latest updated_at wins.
-- Partition rule: every partition on or before run_date.
with source as (

    {{ feed_partition(source('complaints', 'complaints'), 'history') }}

),

renamed as (

    select
        {{ dbt.cast('complaint_id', dbt.type_string()) }} as complaint_id,
        {{ dbt.cast('complainant_id', dbt.type_string()) }} as complainant_id,
        {{ dbt.cast('received_at', type_timestamptz()) }} as received_at,
        {{ dbt.cast('updated_at', type_timestamptz()) }} as updated_at,
        {{ dbt.cast('channel', dbt.type_string()) }} as channel,
        {{ dbt.cast('category', dbt.type_string()) }} as category,
        {{ dbt.cast('product', dbt.type_string()) }} as product,
        {{ dbt.cast('branch_id', dbt.type_string()) }} as branch_id,
        {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
        {{ dbt.cast('status', dbt.type_string()) }} as status,
        {{ dbt.cast('resolved_at', type_timestamptz()) }} as resolved_at,
        {{ dbt.cast('outcome', dbt.type_string()) }} as outcome,
        {{ dbt.cast('escalated_externally', dbt.type_boolean()) }} as escalated_externally,
        {{ dbt.cast('satisfaction', dbt.type_int()) }} as satisfaction,
        {{ dbt.cast('amount', type_amount()) }} as amount,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
