-- Published (contract enforced): privileged entitlements to freeze for employees serving notice
-- (rule AL-02, fct_notice_privileged_access). One row per (employee_id, system, account_id,
-- entitlement); ticket_key is stable across nights.
select
    {{ dbt.cast(dbt.concat(["'AL-02:'", 'system', "':'", 'account_id', "':'", 'entitlement']), dbt.type_string()) }} as ticket_key,
    {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
    {{ dbt.cast('system', dbt.type_string()) }} as system,
    {{ dbt.cast('account_id', dbt.type_string()) }} as account_id,
    {{ dbt.cast('entitlement', dbt.type_string()) }} as entitlement,
    {{ dbt.cast('notice_date', 'date') }} as notice_date,
    {{ dbt.cast('due_date', 'date') }} as due_date,
    {{ dbt.cast('due_at', type_timestamptz()) }} as due_at,
    {{ dbt.cast('is_overdue', dbt.type_boolean()) }} as is_overdue,
    {{ dbt.cast('days_overdue', dbt.type_int()) }} as days_overdue,
    {{ dbt.cast('priority', dbt.type_string()) }} as priority,
    {{ dbt.cast('rule_id', dbt.type_string()) }} as rule_id,
    {{ dbt.cast('policy_version', dbt.type_string()) }} as policy_version,
    {{ dbt.cast('as_of_date', 'date') }} as as_of_date
from {{ ref('fct_notice_privileged_access') }}
