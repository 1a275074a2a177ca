-- One row per item of a multi-item case (the leaver's departure plan, a complainant's handling
-- plan, an incident), as of run_date: each item owned by its team (seed case_item_policy), due
-- sla_days after the day it was detected (a leaver's: the termination date), and verified closed
-- separately (closed_at: the night tonight's data no longer showed it; a second
-- episode is a reopened item). An item's condition can be present from the first night or appear
-- later (an account re-enabled).
-- The policy row is the one of the case's severity (a complainant's tier: high items are due sooner
-- than medium ones), else the item's row without a severity (every severity).
-- is_overdue: still open and run_date is after due_by.
{%- set t = dbt.type_string() %}
with episodes as (

    select * from {{ ref('int_response__case_item_episodes') }}
    where is_latest

),

cases as (

    select case_id, kind, severity, department, detected_by_team from {{ ref('fct_cases') }}

),

detected as (

    select case_id, item, min(detected_on) as detected_on
    from {{ ref('int_response__finding_history') }}
    where item is not null
      and as_of_date in (select as_of_date from {{ ref('int_response__case_nights') }})
    group by case_id, item

),

policies as (

    select * from {{ ref('case_item_policy') }}

),

items as (

    select
        episodes.*,
        cases.kind,
        cases.department,
        cases.detected_by_team,
        detected.detected_on,
        coalesce(by_severity.owner_team, any_severity.owner_team) as policy_owner_team,
        coalesce(by_severity.sla_days, any_severity.sla_days, 0) as policy_sla_days,
        coalesce(by_severity.verified_by, any_severity.verified_by) as policy_verified_by
    from episodes
    inner join cases
        on episodes.case_id = cases.case_id
    left join detected
        on episodes.case_id = detected.case_id
        and episodes.item = detected.item
    left join policies as by_severity
        on cases.kind = by_severity.kind
        and episodes.item = by_severity.item
        and cases.severity = by_severity.severity
    left join policies as any_severity
        on cases.kind = any_severity.kind
        and episodes.item = any_severity.item
        and any_severity.severity is null

)

select
    cast(case_id as {{ t }}) as case_id,
    cast(item as {{ t }}) as item,
    cast(case
        when policy_owner_team = 'department' then coalesce(department, 'unassigned')
        else coalesce(policy_owner_team, 'compliance')
    end as {{ t }}) as owner_team,
    cast(detected_by_team as {{ t }}) as detected_by_team,
    cast(case
        when closed_on is not null then 'closed_verified'
        when n_episodes > 1 then 'reopened'
        else 'open'
    end as {{ t }}) as status,
    cast(opened_on as date) as opened_on,
    cast({{ dbt.dateadd('day', 'policy_sla_days',
        'case when n_episodes > 1 then started_on else detected_on end') }} as date) as due_by,
    cast(policy_sla_days as {{ dbt.type_int() }}) as sla_days,
    cast(closed_on as date) as closed_at,
    cast(case when closed_on is not null then policy_verified_by end as {{ t }}) as verified_by,
    cast(closed_on is null and {{ run_date_sql() }} > {{ dbt.dateadd('day', 'policy_sla_days',
        'case when n_episodes > 1 then started_on else detected_on end') }} as {{ dbt.type_boolean() }}) as is_overdue,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from items
