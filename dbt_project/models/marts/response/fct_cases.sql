-- One row per case ever opened, as of run_date (docs/cases.md). A case is opened by a rule on a
-- published finding (int_response__findings), keeps its id and opened_on for life, and its state is
-- computed from the nights it was seen on (int_response__case_episodes) and the valid ITSM events
-- (int_response__case_events):
--   closed_verified   tonight's data no longer shows the finding (closed_at: that night)
--   resolved_claimed  still shown, but the ITSM says resolved (its latest resolved event is later
--                     than its latest reopened event, in the current episode)
--   reopened          still shown, and it had been verified closed before
--   acknowledged      still shown, the ITSM has reported any event on it
--   open              still shown, nothing heard
-- due_by = the day the condition began (detected_on; for a reopened case the night it came back)
-- + sla_days of (kind, severity at the episode's start) in seed case_policy. Priority: P2 high,
-- P3 medium, P4 low; one step up once the case is escalate_after_days old, one more once past
-- due_by (never above P1); a closed case keeps its priority of the night it was last seen.
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
with episodes as (

    select * from {{ ref('int_response__case_episodes') }}
    where is_latest

),

history as (

    -- the slices of the case nights only (a held night's slice is no night of the cases)
    select * from {{ ref('int_response__finding_history') }}
    where as_of_date in (select as_of_date from {{ ref('int_response__case_nights') }})

),

episode_start as (

    -- the finding as it was on the first night of the current episode: sets severity and due_by
    select
        history.case_id,
        min(history.kind) as kind,
        min(history.subject_type) as subject_type,
        min(history.subject_id) as subject_id,
        min(case history.severity when 'high' then 1 when 'medium' then 2 else 3 end) as severity_rank,
        min(history.detected_on) as detected_on
    from history
    inner join episodes
        on history.case_id = episodes.case_id
        and history.as_of_date = episodes.started_on
    group by history.case_id

),

last_seen as (

    select
        history.case_id,
        min(history.department) as department
    from history
    inner join episodes
        on history.case_id = episodes.case_id
        and history.as_of_date = episodes.last_seen_on
    group by history.case_id

),

events as (

    select * from {{ ref('int_response__case_events') }}
    where quarantine_reason is null

),

acknowledged as (

    select case_id, min(event_at) as acknowledged_at
    from events
    where event <> 'reopened'
    group by case_id

),

claims as (

    select
        events.case_id,
        max(case when events.event = 'resolved' then events.event_at end) as resolved_at,
        max(case when events.event = 'reopened' then events.event_at end) as itsm_reopened_at
    from events
    inner join episodes
        on events.case_id = episodes.case_id
        and {{ utc_date('events.event_at') }} >= episodes.started_on
    group by events.case_id

),

policy as (

    select * from {{ ref('case_policy') }}

),

stated as (

    select
        episodes.case_id,
        episode_start.kind,
        episode_start.subject_type,
        episode_start.subject_id,
        case episode_start.severity_rank when 1 then 'high' when 2 then 'medium' else 'low' end as severity,
        last_seen.department,
        episodes.opened_on,
        episodes.started_on,
        episodes.last_seen_on,
        episodes.closed_on,
        episodes.n_episodes,
        episodes.closed_on is null as is_open,
        case
            when episodes.n_episodes > 1 then episodes.started_on
            else least(episode_start.detected_on, episodes.started_on)
        end as condition_began_on,
        acknowledged.acknowledged_at,
        claims.resolved_at,
        claims.resolved_at is not null
            and (claims.itsm_reopened_at is null or claims.resolved_at > claims.itsm_reopened_at) as is_claimed
    from episodes
    inner join episode_start
        on episodes.case_id = episode_start.case_id
    left join last_seen
        on episodes.case_id = last_seen.case_id
    left join acknowledged
        on episodes.case_id = acknowledged.case_id
    left join claims
        on episodes.case_id = claims.case_id

),

with_policy as (

    select
        stated.*,
        case
            when policy.owner_team = 'department' then coalesce(stated.department, 'unassigned')
            else coalesce(policy.owner_team, 'compliance')
        end as owner_team,
        coalesce(policy.detected_by_team, 'compliance') as detected_by_team,
        coalesce(policy.sla_days, 0) as sla_days,
        coalesce(policy.escalate_after_days, 0) as escalate_after_days,
        coalesce(policy.claim_grace_days, 0) as claim_grace_days,
        policy.verified_by,
        {{ dbt.cast(dbt.dateadd('day', 'coalesce(policy.sla_days, 0)', 'stated.condition_began_on'), 'date') }} as due_by,
        case when stated.closed_on is null then {{ run_date_sql() }} else stated.last_seen_on end as measured_on
    from stated
    left join policy
        on stated.kind = policy.kind
        and stated.severity = policy.severity

),

ranked as (

    select
        with_policy.*,
        case severity when 'high' then 2 when 'medium' then 3 else 4 end
            - case when {{ dbt.datediff('started_on', 'measured_on', 'day') }} >= escalate_after_days then 1 else 0 end
            - case when measured_on > due_by then 1 else 0 end as priority_rank
    from with_policy

)

select
    cast(case_id as {{ t }}) as case_id,
    cast(kind as {{ t }}) as kind,
    cast(subject_type as {{ t }}) as subject_type,
    cast(subject_id as {{ t }}) as subject_id,
    cast(severity as {{ t }}) as severity,
    cast(owner_team as {{ t }}) as owner_team,
    cast(department as {{ t }}) as department,
    cast(detected_by_team as {{ t }}) as detected_by_team,
    cast(opened_on as date) as opened_on,
    cast(started_on as date) as episode_started_on,
    cast(due_by as date) as due_by,
    cast(sla_days as {{ i }}) as sla_days,
    cast({{ dbt.concat(["'P'", dbt.cast('case when priority_rank < 1 then 1 else priority_rank end', t)]) }} as {{ t }}) as priority,
    cast(case
        when not is_open then 'closed_verified'
        when is_claimed then 'resolved_claimed'
        when n_episodes > 1 then 'reopened'
        when acknowledged_at is not null then 'acknowledged'
        else 'open'
    end as {{ t }}) as status,
    cast(acknowledged_at as {{ type_timestamptz() }}) as acknowledged_at,
    cast(case when is_open and is_claimed then resolved_at end as {{ type_timestamptz() }}) as resolved_claimed_at,
    cast(case
        when is_open and is_claimed
            then {{ dbt.datediff(utc_date('resolved_at'), run_date_sql(), 'day') }}
    end as {{ i }}) as days_claimed_unverified,
    cast(claim_grace_days as {{ i }}) as claim_grace_days,
    cast(closed_on as date) as closed_at,
    cast(case when not is_open then verified_by end as {{ t }}) as verified_by,
    cast(is_open and {{ run_date_sql() }} > due_by as {{ dbt.type_boolean() }}) as is_overdue,
    cast(not is_open and closed_on <= due_by as {{ dbt.type_boolean() }}) as closed_within_sla,
    cast(n_episodes - 1 as {{ i }}) as n_reopened,
    cast(last_seen_on as date) as last_seen_on,
    cast({{ is_drill('subject_id') }} as {{ dbt.type_boolean() }}) as is_drill,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from ranked
