-- Case kind revocation_overdue: a leaver's account past its revocation due date that tonight's
-- IAM snapshot still shows enabled (pub_leaver_access_exposure, is_overdue: run_date > due_date).
-- The revocation ticket went out on the first night; this case is the escalation when it did
-- not work. The condition began the day after the due date. Subject: '<system>:<account_id>'.
with found as (

    select
        'revocation_overdue' as kind,
        'account' as subject_type,
        {{ dbt.concat(['exposure.system', "':'", 'exposure.account_id']) }} as subject_id,
        case when exposure.priority = 'P1' then 'high' else 'medium' end as severity,
        {{ dbt.cast(dbt.dateadd('day', 1, 'exposure.due_date'), 'date') }} as detected_on,
        employees.department,
        cast(null as {{ dbt.type_string() }}) as item,
        cast(null as {{ dbt.type_string() }}) as item_owner_team
    from {{ ref('pub_leaver_access_exposure') }} as exposure
    left join {{ ref('int_employees__with_status') }} as employees
        on exposure.employee_id = employees.employee_id
    where exposure.is_overdue

)

{{ response_finding('found') }}
