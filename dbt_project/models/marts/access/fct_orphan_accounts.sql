-- Rule AL-04, orphan accounts. One row per (system, account_id): an enabled account on run_date
-- without a valid owner:
--   no_owner          employee_id is null and the account is not a service account (username
--                     prefix in service_account_prefixes or username in service_accounts)
--   unknown_employee  employee_id names nobody in the HR roster. Ids are compared as text, exactly:
--                     '17' is not '0000017'. similar_employee_id shows such a look-alike (same id
--                     without leading zeros) to help the review; it does not change the verdict.
-- The service-account exclusion applies to ownerless accounts only: an account naming an unknown
-- employee is an orphan whatever its username. Priority P1 when privileged, else P2.
with accounts as (

    select * from {{ ref('int_access__accounts') }}
    where is_enabled

),

employees as (

    select employee_id from {{ ref('int_employees__with_status') }}

),

orphans as (

    select
        accounts.*,
        case
            when accounts.owner_status = 'unowned' then 'no_owner'
            else 'unknown_employee'
        end as reason
    from accounts
    where (accounts.owner_status = 'unowned' and not accounts.is_service_account)
       or accounts.owner_status = 'unknown_employee'

),

look_alikes as (

    select
        orphans.system,
        orphans.account_id,
        min(employees.employee_id) as similar_employee_id
    from orphans
    inner join employees
        on {{ trim_leading_chars('employees.employee_id', '0') }} = {{ trim_leading_chars('orphans.employee_id', '0') }}
        and employees.employee_id <> orphans.employee_id
    where orphans.reason = 'unknown_employee'
    group by orphans.system, orphans.account_id

)

select
    orphans.system,
    orphans.account_id,
    orphans.employee_id,
    orphans.reason,
    look_alikes.similar_employee_id,
    orphans.is_privileged,
    orphans.n_entitlements,
    orphans.criticality,
    orphans.created_at,
    orphans.last_activity_at,
    case when orphans.is_privileged then 'P1' else 'P2' end as priority,
    'AL-04' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from orphans
left join look_alikes
    on orphans.system = look_alikes.system
    and orphans.account_id = look_alikes.account_id
