-- Events on Vigil's cases from the bank's ITSM (optional feed cases/case_events): one row per
-- event_id, its latest delivery on or before run_date (an event id re-delivered is replaced).
-- The feed may never have been delivered: the loader creates the raw table empty, so this is
-- simply empty and closure is verified from the data alone.
with source as (

    {{ feed_partition(source('cases', 'case_events'), 'history') }}

),

latest as (

    select
        source.*,
        row_number() over (
            partition by event_id order by _feed_date desc, _source_line desc
        ) as delivery_rank
    from source

)

select
    {{ dbt.cast('event_id', dbt.type_string()) }} as event_id,
    {{ dbt.cast("nullif(case_id, '')", dbt.type_string()) }} as case_id,
    {{ dbt.cast("nullif(itsm_ref, '')", dbt.type_string()) }} as itsm_ref,
    {{ dbt.cast('event', dbt.type_string()) }} as event,
    {{ dbt.cast('event_at', type_timestamptz()) }} as event_at,
    {{ dbt.cast("nullif(actor_id, '')", dbt.type_string()) }} as actor_id,
    {{ dbt.cast("nullif(outcome, '')", dbt.type_string()) }} as outcome,
    {{ dbt.cast("nullif(channel, '')", dbt.type_string()) }} as channel,
    {{ dbt.cast('_feed_date', 'date') }} as _feed_date,
    {{ dbt.cast('_source_file', dbt.type_string()) }} as _source_file,
    {{ dbt.cast('_source_line', dbt.type_bigint()) }} as _source_line
from latest
where delivery_rank = 1
