-- Published (contract enforced): the privileged entitlements each manager must certify in the
-- quarterly access review, as they stood at the end of each quarter. One row per
-- (snapshot_date, system, account_id, entitlement), snapshot_date = run_date.
--
-- A row: an entitlement flagged privileged by IAM, on an enabled account owned (matched in HR) by
-- an active employee (hired, not a leaver: leavers' access is AL-01's). The certifier is the
-- employee's manager_id; manager_is_active is false when that manager has left or is unknown to
-- HR (the review must be reassigned), and manager_id is null at the top of the organisation.
-- Same retention as pub_review_findings: tonight's slice, and through the post-hook only the
-- latest slice of each calendar quarter. No PII: ids, org units, positions, systems, entitlements.
{%- set t = dbt.type_string() %}
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

with entitlements as (

    select *
    from {{ ref('fct_entitlements') }}
    where is_privileged
      and account_status = 'enabled'
      and owner_status = 'matched'
      and owner_is_active

),

employees as (

    select * from {{ ref('dim_employees') }}

)

select
    {{ run_date_sql() }} as snapshot_date,
    {{ dbt.cast(dbt.concat(["'AC-01:'", 'entitlements.system', "':'", 'entitlements.account_id', "':'", 'entitlements.entitlement']), t) }} as certification_key,
    {{ dbt.cast('employee.manager_id', t) }} as manager_id,
    {{ dbt.cast('coalesce(manager.is_active, false)', dbt.type_boolean()) }} as manager_is_active,
    {{ dbt.cast('manager.department', t) }} as manager_department,
    {{ dbt.cast('entitlements.employee_id', t) }} as employee_id,
    {{ dbt.cast('employee.department', t) }} as department,
    {{ dbt.cast('employee.position', t) }} as position,
    {{ dbt.cast('employee.status', t) }} as employee_status,
    {{ dbt.cast('entitlements.system', t) }} as system,
    {{ dbt.cast('entitlements.account_id', t) }} as account_id,
    {{ dbt.cast('entitlements.entitlement', t) }} as entitlement,
    {{ dbt.cast('entitlements.account_is_privileged', dbt.type_boolean()) }} as is_privileged_account,
    {{ utc_date('entitlements.granted_at') }} as granted_date,
    {{ dbt.cast("'AC-01'", t) }} as rule_id,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", t) }} as policy_version
from entitlements
inner join employees as employee
    on employee.employee_id = entitlements.employee_id
left join employees as manager
    on manager.employee_id = employee.manager_id
