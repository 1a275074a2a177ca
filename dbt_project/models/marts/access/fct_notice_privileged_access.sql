-- Rule AL-02, notice-period restriction (freeze privileged access on resignation). One row per
-- (employee_id, system, account_id, entitlement): a privileged entitlement held on an enabled
-- account by an employee whose HR status is 'notice' and who has not left yet (termination_date
-- null or after run_date). Due by the end of notice_date + notice_privilege_due_days (0: the day
-- notice is given); P1 once overdue, P2 before.
{%- set due_days = var('notice_privilege_due_days') | int %}
with employees as (

    select * from {{ ref('int_employees__with_status') }}
    where status = 'notice'
      and not is_leaver

),

accounts as (

    select * from {{ ref('int_access__accounts') }}
    where is_enabled

),

entitlements as (

    select * from {{ ref('stg_iam__entitlements') }}
    where is_privileged

),

held as (

    select
        employees.employee_id,
        accounts.system,
        accounts.account_id,
        entitlements.entitlement,
        entitlements.granted_at,
        employees.notice_date,
        employees.termination_date as planned_termination_date,
        accounts.criticality,
        {{ dbt.cast(dbt.dateadd('day', due_days, 'coalesce(employees.notice_date, ' ~ run_date_sql() ~ ')'), 'date') }} as due_date
    from employees
    inner join accounts
        on employees.employee_id = accounts.employee_id
    inner join entitlements
        on accounts.system = entitlements.system
        and accounts.account_id = entitlements.account_id

)

select
    employee_id,
    system,
    account_id,
    entitlement,
    granted_at,
    notice_date,
    planned_termination_date,
    criticality,
    due_date,
    {{ utc_instant('due_date', '23:59:59') }} as due_at,
    {{ run_date_sql() }} > due_date as is_overdue,
    {{ dbt.cast('case when ' ~ run_date_sql() ~ ' > due_date then ' ~ dbt.datediff('due_date', run_date_sql(), 'day') ~ ' else 0 end', dbt.type_int()) }} as days_overdue,
    case when {{ run_date_sql() }} > due_date then 'P1' else 'P2' end as priority,
    'AL-02' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from held
