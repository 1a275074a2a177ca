-- Published (contract enforced): security alerts for logins after the owner's termination date
-- (rule AL-03, fct_post_termination_logins). One row per (system, account_id, login_at).
-- is_new: first delivered on run_date (alert once). Priority P1 while the account is still
-- enabled, else P2.
select
    {{ dbt.cast(dbt.concat(["'AL-03:'", 'system', "':'", 'account_id', "':'", utc_timestamp_text('login_at')]), dbt.type_string()) }} as alert_key,
    {{ dbt.cast('employee_id', dbt.type_string()) }} as employee_id,
    {{ dbt.cast('system', dbt.type_string()) }} as system,
    {{ dbt.cast('account_id', dbt.type_string()) }} as account_id,
    {{ dbt.cast('login_at', type_timestamptz()) }} as login_at,
    {{ dbt.cast('login_date', 'date') }} as login_date,
    {{ dbt.cast('termination_date', 'date') }} as termination_date,
    {{ dbt.cast('days_after_termination', dbt.type_int()) }} as days_after_termination,
    {{ dbt.cast('outcome', dbt.type_string()) }} as outcome,
    {{ dbt.cast('source', dbt.type_string()) }} as source,
    {{ dbt.cast('first_reported_on', 'date') }} as first_reported_on,
    {{ dbt.cast('is_new', dbt.type_boolean()) }} as is_new,
    {{ dbt.cast('account_status', dbt.type_string()) }} as account_status,
    {{ dbt.cast("case when account_status = 'enabled' then 'P1' else 'P2' end", dbt.type_string()) }} as priority,
    {{ dbt.cast('rule_id', dbt.type_string()) }} as rule_id,
    {{ dbt.cast('policy_version', dbt.type_string()) }} as policy_version,
    {{ dbt.cast('as_of_date', 'date') }} as as_of_date
from {{ ref('fct_post_termination_logins') }}
