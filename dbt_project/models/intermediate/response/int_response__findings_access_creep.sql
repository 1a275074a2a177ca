-- Case kind access_creep: one finding per published kept entitlement after a move (rule AL-06,
-- pub_access_exceptions). The subject is the entitlement: '<system>:<account_id>:<entitlement>';
-- the business line the mover now works in owns the review (case_policy).
with found as (

    select
        'access_creep' as kind,
        'entitlement' as subject_type,
        replace(exceptions.exception_id, 'AL-06:', '') as subject_id,
        {{ severity_of('exceptions.priority') }} as severity,
        exceptions.as_of_date as detected_on,
        employees.department,
        cast(null as {{ dbt.type_string() }}) as item,
        cast(null as {{ dbt.type_string() }}) as item_owner_team
    from {{ ref('pub_access_exceptions') }} as exceptions
    left join {{ ref('int_employees__with_status') }} as employees
        on exceptions.employee_id = employees.employee_id
    where exceptions.exception_kind = 'access_creep'

)

{{ response_finding('found') }}
