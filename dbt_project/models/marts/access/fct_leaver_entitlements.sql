-- Rule AL-01 at entitlement level. One row per (system, account_id, entitlement) still held by an
-- account in fct_leaver_access_exposure (enabled account of a leaver): what revocation removes.
with exposure as (

    select * from {{ ref('fct_leaver_access_exposure') }}

),

entitlements as (

    select * from {{ ref('stg_iam__entitlements') }}

)

select
    exposure.employee_id,
    entitlements.system,
    entitlements.account_id,
    entitlements.entitlement,
    entitlements.is_privileged,
    entitlements.granted_at,
    exposure.termination_date,
    exposure.due_date,
    exposure.due_at,
    exposure.is_overdue,
    exposure.days_overdue,
    exposure.priority,
    exposure.rule_id,
    exposure.policy_version,
    exposure.as_of_date
from entitlements
inner join exposure
    on entitlements.system = exposure.system
    and entitlements.account_id = exposure.account_id
