-- One row per ITSM event (stg_cases__case_events) with the Vigil case id it is about: the case_id
-- it names, or else the case of its itsm_ref, resolved through any event that named both. No
-- judgement yet (int_response__case_events says which events count); kept apart so the
-- key-complainant contacts (int_complainants__contacts: `contacted` events) can read the ITSM's
-- events without depending on the cases they feed.
with events as (

    select * from {{ ref('stg_cases__case_events') }}

),

refs as (

    select itsm_ref, min(case_id) as case_id
    from events
    where itsm_ref is not null and case_id is not null
    group by itsm_ref

)

select
    events.event_id,
    events.case_id as named_case_id,
    coalesce(events.case_id, refs.case_id) as resolved_case_id,
    events.itsm_ref,
    events.event,
    events.event_at,
    events.actor_id,
    events.outcome,
    events.channel,
    events._feed_date,
    events._source_file,
    events._source_line
from events
left join refs
    on events.itsm_ref = refs.itsm_ref
