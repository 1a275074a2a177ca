-- One row per ITSM event (stg_cases__case_events) with the Vigil case it is about and whether it
-- counts. A row names case_id, the ITSM's itsm_ref, or both; an itsm_ref alone is resolved through
-- any event that named both. quarantine_reason (null = valid):
--   unknown_case    no Vigil case has that id (or the itsm_ref was never tied to one) as of run_date
--   before_opened   the event happened before the case was opened (UTC date before opened_on)
--   went_backwards  an earlier delivery already held a later event of the same case: the ITSM
--                   rewrote its past (decided from the feed alone: int_response__case_events_resolved)
-- Quarantined events never change a case; fct_case_event_quarantine lists them with file and
-- line, and its test warns on the night (never silently dropped).
with resolved as (

    select * from {{ ref('int_response__case_events_resolved') }}

),

cases as (

    select case_id, min(opened_on) as opened_on
    from {{ ref('int_response__case_episodes') }}
    group by case_id

)

select
    resolved.event_id,
    resolved.resolved_case_id as case_id,
    resolved.itsm_ref,
    resolved.event,
    resolved.event_at,
    resolved.actor_id,
    resolved.outcome,
    resolved.channel,
    case
        when cases.case_id is null then 'unknown_case'
        when {{ utc_date('resolved.event_at') }} < cases.opened_on then 'before_opened'
        when resolved.went_backwards then 'went_backwards'
    end as quarantine_reason,
    resolved._feed_date,
    resolved._source_file,
    resolved._source_line
from resolved
left join cases
    on resolved.resolved_case_id = cases.case_id
