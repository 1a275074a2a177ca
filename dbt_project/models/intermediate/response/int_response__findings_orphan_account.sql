-- Case kind orphan_account: one finding per published orphan_account exception (rule AL-04,
-- pub_access_exceptions). The subject is the account: '<system>:<account_id>'.
with found as (

    select
        'orphan_account' as kind,
        'account' as subject_type,
        replace(exceptions.exception_id, 'AL-04:', '') as subject_id,
        {{ severity_of('exceptions.priority') }} as severity,
        exceptions.as_of_date as detected_on,
        employees.department,
        cast(null as {{ dbt.type_string() }}) as item,
        cast(null as {{ dbt.type_string() }}) as item_owner_team
    from {{ ref('pub_access_exceptions') }} as exceptions
    left join {{ ref('int_employees__with_status') }} as employees
        on exceptions.employee_id = employees.employee_id
    where exceptions.exception_kind = 'orphan_account'

)

{{ response_finding('found') }}
