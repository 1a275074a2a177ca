-- Incidents of the customer-service emergency plan (optional feed); every delivered version.
-- Partition rule: every partition on or before run_date (the latest delivery wins downstream).
with source as (

    {{ feed_partition(source('incidents', 'incidents'), 'history') }}

),

renamed as (

    select
        {{ dbt.cast('incident_id', dbt.type_string()) }} as incident_id,
        {{ dbt.cast('kind', dbt.type_string()) }} as kind,
        {{ dbt.cast('started_at', type_timestamptz()) }} as started_at,
        {{ dbt.cast('reported_at', type_timestamptz()) }} as reported_at,
        {{ dbt.cast('location_type', dbt.type_string()) }} as location_type,
        {{ dbt.cast('location', dbt.type_string()) }} as location,
        {{ dbt.cast('services_affected', dbt.type_string()) }} as services_affected,
        {{ dbt.cast('customers_affected', dbt.type_int()) }} as customers_affected,
        {{ dbt.cast('severity', dbt.type_string()) }} as severity,
        {{ dbt.cast('activated_at', type_timestamptz()) }} as activated_at,
        {{ dbt.cast('restored_at', type_timestamptz()) }} as restored_at,
        {{ dbt.cast('post_review_at', type_timestamptz()) }} as post_review_at,
        {{ dbt.cast('effectiveness', dbt.type_int()) }} as effectiveness,
        {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
        {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
        {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line
    from source

)

select * from renamed
