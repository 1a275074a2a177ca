-- One row per (system, account_id, entitlement) in the IAM snapshot as of run_date, with the
-- owning account and its owner employee_id. Entitlements of accounts missing from the account
-- snapshot are kept (account_found = false, owner_status 'unknown_account').
with entitlements as (

    select * from {{ ref('stg_iam__entitlements') }}

),

accounts as (

    select * from {{ ref('int_accounts__with_owner') }}

)

select
    entitlements.system,
    entitlements.account_id,
    entitlements.entitlement,
    entitlements.is_privileged,
    entitlements.granted_at,
    accounts.account_id is not null as account_found,
    accounts.status as account_status,
    accounts.is_privileged as account_is_privileged,
    accounts.employee_id,
    coalesce(accounts.owner_status, 'unknown_account') as owner_status,
    accounts.owner_is_active,
    accounts.owner_is_leaver,
    accounts.owner_termination_date,
    {{ run_date_sql() }} as as_of_date,
    entitlements._feed_date,
    entitlements._source_file,
    entitlements._source_line
from entitlements
left join accounts
    on entitlements.system = accounts.system
    and entitlements.account_id = accounts.account_id
