-- Published (contract enforced): what revocation tickets read. One row per
-- (employee_id, system, account_id): an enabled account of a leaver on run_date (rule AL-01,
-- fct_leaver_access_exposure), with its due time, priority and the entitlements to remove as a
-- sorted ', '-separated list (one row each in pub_leaver_entitlements). ticket_key is stable across
-- nights for the same account: tickets are created once and updated after.
select
    {{ dbt.cast(dbt.concat(["'AL-01:'", 'system', "':'", 'account_id']), dbt.type_string()) }} as ticket_key,
    {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
    {{ dbt.cast('system', dbt.type_string()) }} as system,
    {{ dbt.cast('account_id', dbt.type_string()) }} as account_id,
    {{ dbt.cast('termination_date', 'date') }} as termination_date,
    {{ dbt.cast('is_privileged', dbt.type_boolean()) }} as is_privileged,
    {{ dbt.cast('criticality', dbt.type_string()) }} as criticality,
    {{ dbt.cast('due_date', 'date') }} as due_date,
    {{ dbt.cast('due_at', type_timestamptz()) }} as due_at,
    {{ dbt.cast('is_overdue', dbt.type_boolean()) }} as is_overdue,
    {{ dbt.cast('days_overdue', dbt.type_int()) }} as days_overdue,
    {{ dbt.cast('priority', dbt.type_string()) }} as priority,
    {{ dbt.cast('n_entitlements', dbt.type_int()) }} as n_entitlements,
    {{ dbt.cast('n_privileged_entitlements', dbt.type_int()) }} as n_privileged_entitlements,
    {{ dbt.cast("coalesce(entitlements, '')", dbt.type_string()) }} as entitlements_to_remove,
    {{ dbt.cast("coalesce(privileged_entitlements, '')", dbt.type_string()) }} as privileged_entitlements,
    {{ dbt.cast('rule_id', dbt.type_string()) }} as rule_id,
    {{ dbt.cast('policy_version', dbt.type_string()) }} as policy_version,
    {{ dbt.cast('as_of_date', 'date') }} as as_of_date
from {{ ref('fct_leaver_access_exposure') }}
