-- One row per employee_id: the HR snapshot as of run_date plus the status flags every area uses
-- (is_leaver, is_active, tenure). Defined once here so dim_employees, the IAM and CRM models agree.
with employees as (

    select * from {{ ref('stg_hr__employees') }}

),

dated as (

    select
        employees.*,
        {{ run_date_sql() }} as as_of_date,
        -- the day tenure stops counting: termination (if already past) or the run date
        case
            when termination_date is not null and termination_date <= {{ run_date_sql() }}
                then termination_date
            else {{ run_date_sql() }}
        end as tenure_end_date
    from employees

),

flagged as (

    select
        dated.*,
        termination_date is not null and termination_date <= as_of_date as is_leaver,
        termination_date is not null and termination_date > as_of_date as is_leaving,
        case
            when hire_date > as_of_date then false
            when termination_date is not null and termination_date <= as_of_date then false
            when status = 'terminated' then false
            else true
        end as is_active,
        case
            when hire_date <= tenure_end_date
                then {{ dbt.datediff('hire_date', 'tenure_end_date', 'day') }}
            else 0
        end as tenure_days
    from dated

)

select
    employee_id,
    full_name_token,
    national_id_token,
    email_token,
    department,
    position,
    manager_id,
    employment_type,
    status,
    hire_date,
    contract_end_date,
    notice_date,
    termination_date,
    termination_reason,
    is_active,
    is_leaver,
    is_leaving,
    {{ dbt.cast('tenure_days', dbt.type_int()) }} as tenure_days,
    {{ dbt.cast('floor(tenure_days / 365.25)', dbt.type_int()) }} as tenure_years,
    as_of_date,
    _feed_date,
    _source_file,
    _source_line
from flagged
