-- One row per item of a multi-item case (the leaver's departure plan), as of run_date: each item
-- owned by its team (seed case_item_policy), due sla_days after the termination date, and
-- verified closed separately (closed_at: the night tonight's data no longer showed it; a second
-- episode is a reopened item). An item's condition can be present from the first night or appear
-- later (an account re-enabled).
{%- set t = dbt.type_string() %}
with episodes as (

    select * from {{ ref('int_response__case_item_episodes') }}
    where is_latest

),

cases as (

    select case_id, kind, department, detected_by_team from {{ ref('fct_cases') }}

),

detected as (

    select case_id, item, min(detected_on) as detected_on
    from {{ ref('int_response__finding_history') }}
    where item is not null
      and as_of_date in (select as_of_date from {{ ref('int_response__case_nights') }})
    group by case_id, item

)

select
    cast(episodes.case_id as {{ t }}) as case_id,
    cast(episodes.item as {{ t }}) as item,
    cast(case
        when policy.owner_team = 'department' then coalesce(cases.department, 'unassigned')
        else coalesce(policy.owner_team, 'compliance')
    end as {{ t }}) as owner_team,
    cast(cases.detected_by_team as {{ t }}) as detected_by_team,
    cast(case
        when episodes.closed_on is not null then 'closed_verified'
        when episodes.n_episodes > 1 then 'reopened'
        else 'open'
    end as {{ t }}) as status,
    cast(episodes.opened_on as date) as opened_on,
    cast({{ dbt.dateadd('day', 'coalesce(policy.sla_days, 0)',
        'case when episodes.n_episodes > 1 then episodes.started_on else detected.detected_on end') }} as date) as due_by,
    cast(coalesce(policy.sla_days, 0) as {{ dbt.type_int() }}) as sla_days,
    cast(episodes.closed_on as date) as closed_at,
    cast(case when episodes.closed_on is not null then policy.verified_by end as {{ t }}) as verified_by,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from episodes
inner join cases
    on episodes.case_id = cases.case_id
left join detected
    on episodes.case_id = detected.case_id
    and episodes.item = detected.item
left join {{ ref('case_item_policy') }} as policy
    on cases.kind = policy.kind
    and episodes.item = policy.item
