-- Case kind leaver: the departure plan of every leaver (termination_date <= run_date), one
-- finding row per item still open tonight, each owned by its own team (seed case_item_policy):
--   access_frozen        an account of the leaver still enabled (pub_leaver_access_exposure, AL-01)
--   assets_returned      an asset of the leaver still out (fct_unreturned_assets: overdue or not yet due)
--   clients_handed_over  an active client of the leaver (as RM) without a new RM (fct_client_handovers:
--                        pending or overdue)
--   record_complete      the leaver record lacks its termination reason or notice date (leavers of
--                        the last review_window_days only: older records are not reworked)
-- An item missing tonight is done: the case closes when no item is left. detected_on is the
-- termination date (the plan starts on the last day), severity high when an enabled account is
-- privileged.
{%- set window = var('review_window_days') | int %}
with leavers as (

    select employee_id, department, termination_date, termination_reason, notice_date
    from {{ ref('int_employees__with_status') }}
    where is_leaver

),

exposure as (

    select employee_id, max(case when is_privileged then 1 else 0 end) as privileged
    from {{ ref('pub_leaver_access_exposure') }}
    group by employee_id

),

open_items as (

    select employee_id, 'access_frozen' as item from exposure
    union all
    select distinct employee_id, 'assets_returned' as item
    from {{ ref('fct_unreturned_assets') }}
    where status in ('overdue', 'not_yet_due')
    union all
    select distinct rm_employee_id as employee_id, 'clients_handed_over' as item
    from {{ ref('fct_client_handovers') }}
    where status in ('pending', 'overdue') and client_status = 'active'
    union all
    select employee_id, 'record_complete' as item
    from leavers
    where (termination_reason is null or notice_date is null)
      and termination_date >= {{ dbt.cast(dbt.dateadd('day', -window, run_date_sql()), 'date') }}

),

found as (

    select
        'leaver' as kind,
        'employee' as subject_type,
        leavers.employee_id as subject_id,
        case when coalesce(exposure.privileged, 0) = 1 then 'high' else 'medium' end as severity,
        leavers.termination_date as detected_on,
        leavers.department,
        open_items.item,
        item_policy.owner_team as item_owner_team
    from open_items
    inner join leavers
        on open_items.employee_id = leavers.employee_id
    left join exposure
        on leavers.employee_id = exposure.employee_id
    left join {{ ref('case_item_policy') }} as item_policy
        on item_policy.kind = 'leaver'
        and item_policy.item = open_items.item

)

{{ response_finding('found') }}
