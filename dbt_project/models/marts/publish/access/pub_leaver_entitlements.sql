-- Published (contract enforced): the entitlements revocation tickets remove. One row per
-- (system, account_id, entitlement) held by an account of pub_leaver_access_exposure (same
-- ticket_key as its account).
select
    {{ dbt.cast(dbt.concat(["'AL-01:'", 'system', "':'", 'account_id']), dbt.type_string()) }} as ticket_key,
    {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
    {{ dbt.cast('system', dbt.type_string()) }} as system,
    {{ dbt.cast('account_id', dbt.type_string()) }} as account_id,
    {{ dbt.cast('entitlement', dbt.type_string()) }} as entitlement,
    {{ dbt.cast('is_privileged', dbt.type_boolean()) }} as is_privileged,
    {{ dbt.cast('granted_at', type_timestamptz()) }} as granted_at,
    {{ dbt.cast('due_at', type_timestamptz()) }} as due_at,
    {{ dbt.cast('priority', dbt.type_string()) }} as priority,
    {{ dbt.cast('rule_id', dbt.type_string()) }} as rule_id,
    {{ dbt.cast('policy_version', dbt.type_string()) }} as policy_version,
    {{ dbt.cast('as_of_date', 'date') }} as as_of_date
from {{ ref('fct_leaver_entitlements') }}
