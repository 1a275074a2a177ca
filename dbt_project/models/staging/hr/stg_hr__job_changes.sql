-- Full history of moves between departments or positions.
-- Partition rule: the latest partition on or before run_date (optional table: not delivered every night).
with source as (

    {{ feed_partition(source('hr', 'job_changes'), 'snapshot') }}

),

renamed as (

    select
        {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
        {{ dbt.cast('effective_date', 'date') }} as effective_date,
        {{ dbt.cast('old_department', dbt.type_string()) }} as old_department,
        {{ dbt.cast('new_department', dbt.type_string()) }} as new_department,
        {{ dbt.cast('old_position', dbt.type_string()) }} as old_position,
        {{ dbt.cast('new_position', dbt.type_string()) }} as new_position,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_sha256', dbt.type_string()) }} as _source_sha256,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line,
        {{ dbt.cast('_loaded_at', type_timestamptz()) }} as _loaded_at,
        {{ dbt.cast('_run_id', dbt.type_string()) }} as _run_id
    from source

)

select * from renamed
