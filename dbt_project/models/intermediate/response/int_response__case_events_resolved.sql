-- One row per ITSM event (stg_cases__case_events) with the Vigil case id it is about: the case_id
-- it names, or else the case of its itsm_ref, resolved through any event that named both. Only the
-- judgement the feed alone can make (int_response__case_events makes the others, against the cases):
--   went_backwards  an earlier delivery (_feed_date) already held a later event (event_at) of the same
--                   resolved case: the ITSM rewrote its past. An event at the same instant as the
--                   earlier delivery's latest is not backwards; one second before it is.
-- Kept apart so the key-complainant contacts (int_complainants__contacts: `contacted` events) can read
-- the ITSM's events, and leave out a rewritten past, without depending on the cases they feed.
with events as (

    select * from {{ ref('stg_cases__case_events') }}

),

refs as (

    select itsm_ref, min(case_id) as case_id
    from events
    where itsm_ref is not null and case_id is not null
    group by itsm_ref

),

resolved as (

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

)

select
    resolved.event_id,
    resolved.named_case_id,
    resolved.resolved_case_id,
    resolved.itsm_ref,
    resolved.event,
    resolved.event_at,
    resolved.actor_id,
    resolved.outcome,
    resolved.channel,
    exists (
        select 1 from resolved as earlier
        where earlier.resolved_case_id = resolved.resolved_case_id
          and earlier._feed_date < resolved._feed_date
          and earlier.event_at > resolved.event_at
    ) as went_backwards,
    resolved._feed_date,
    resolved._source_file,
    resolved._source_line
from resolved
