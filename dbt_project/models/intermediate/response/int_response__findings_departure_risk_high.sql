-- Case kind departure_risk_high: an active employee at departure-risk tier high (rule DR-01,
-- pub_departure_risk) who holds clients or privileged access. Their business line prepares a
-- handover plan and reviews their access before they give notice. Subject: the employee.
with found as (

    select
        'departure_risk_high' as kind,
        'employee' as subject_type,
        risk.employee_id as subject_id,
        'high' as severity,
        risk.as_of_date as detected_on,
        risk.department,
        cast(null as {{ dbt.type_string() }}) as item,
        cast(null as {{ dbt.type_string() }}) as item_owner_team
    from {{ ref('pub_departure_risk') }} as risk
    where risk.tier = 'high'
      and (risk.n_clients > 0 or risk.has_privileged_access)

)

{{ response_finding('found') }}
