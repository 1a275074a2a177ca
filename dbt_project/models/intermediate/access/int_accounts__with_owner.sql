-- One row per (system, account_id): the IAM account snapshot as of run_date joined to the HR record
-- of its owner. owner_status says how the join went:
--   matched           employee_id found in the HR snapshot
--   unowned           the account names no owner (service / shared / generic accounts)
--   unknown_employee  the account names an employee HR does not know (an orphan account)
with accounts as (

    select * from {{ ref('stg_iam__accounts') }}

),

employees as (

    select * from {{ ref('int_employees__with_status') }}

)

select
    accounts.system,
    accounts.account_id,
    accounts.username,
    accounts.employee_id,
    accounts.status,
    accounts.is_privileged,
    accounts.created_at,
    accounts.last_login_at,
    accounts.disabled_at,
    case
        when accounts.employee_id is null then 'unowned'
        when employees.employee_id is null then 'unknown_employee'
        else 'matched'
    end as owner_status,
    employees.status as owner_employee_status,
    employees.is_active as owner_is_active,
    employees.is_leaver as owner_is_leaver,
    employees.termination_date as owner_termination_date,
    employees.department as owner_department,
    accounts._feed_date,
    accounts._source_file,
    accounts._source_line
from accounts
left join employees
    on accounts.employee_id = employees.employee_id
