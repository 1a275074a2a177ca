-- Contacts with complainants logged by the complaints team (optional table); every delivered
-- version. Partition rule: every partition on or before run_date.
with source as (

    {{ feed_partition(source('complaints', 'contacts'), 'history') }}

),

renamed as (

    select
        {{ dbt.cast('contact_id', dbt.type_string()) }} as contact_id,
        {{ dbt.cast('complainant_id', dbt.type_string()) }} as complainant_id,
        {{ dbt.cast('contacted_at', type_timestamptz()) }} as contacted_at,
        {{ dbt.cast('channel', dbt.type_string()) }} as channel,
        {{ dbt.cast('outcome', dbt.type_string()) }} as outcome,
        {{ dbt.cast('handler_id', dbt.type_string()) }} as handler_id,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line
    from source

)

select * from renamed
