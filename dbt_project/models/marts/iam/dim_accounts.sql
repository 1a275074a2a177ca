-- One row per (system, account_id) in the IAM snapshot as of run_date, joined to its owner
-- (owner_status: matched / unowned / unknown_employee), with entitlement counts and the login
-- events delivered on or before run_date.
with accounts as (

    select * from {{ ref('int_accounts__with_owner') }}

),

-- the entitlement counts are computed once, in int_access__accounts (same grain, 0 when none)
entitlements as (

    select system, account_id, n_entitlements, n_privileged_entitlements
    from {{ ref('int_access__accounts') }}

),

logins as (

    select * from {{ ref('int_accounts__login_summary') }}

)

select
    accounts.system,
    accounts.account_id,
    accounts.username,
    accounts.employee_id,
    accounts.status,
    accounts.status = 'enabled' as is_enabled,
    accounts.is_privileged,
    accounts.created_at,
    accounts.last_login_at,
    accounts.disabled_at,
    accounts.owner_status,
    accounts.owner_employee_status,
    accounts.owner_is_active,
    accounts.owner_is_leaver,
    accounts.owner_termination_date,
    accounts.owner_department,
    entitlements.n_entitlements,
    entitlements.n_privileged_entitlements,
    logins.last_successful_login_at,
    logins.last_failed_login_at,
    {{ run_date_sql() }} as as_of_date,
    accounts._feed_date,
    accounts._source_file,
    accounts._source_line
from accounts
left join entitlements
    on accounts.system = entitlements.system
    and accounts.account_id = entitlements.account_id
left join logins
    on accounts.system = logins.system
    and accounts.account_id = logins.account_id
