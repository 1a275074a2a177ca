-- Case kind sod_conflict: one finding per published segregation-of-duties conflict (rule AL-07,
-- pub_access_exceptions). The subject is the (employee, toxic pair): '<employee_id>:<pair_id>'.
with found as (

    select
        'sod_conflict' as kind,
        'employee_sod_pair' as subject_type,
        replace(exceptions.exception_id, 'AL-07:', '') as subject_id,
        {{ severity_of('exceptions.priority') }} as severity,
        exceptions.as_of_date as detected_on,
        employees.department,
        cast(null as {{ dbt.type_string() }}) as item,
        cast(null as {{ dbt.type_string() }}) as item_owner_team
    from {{ ref('pub_access_exceptions') }} as exceptions
    left join {{ ref('int_employees__with_status') }} as employees
        on exceptions.employee_id = employees.employee_id
    where exceptions.exception_kind = 'sod_conflict'

)

{{ response_finding('found') }}
