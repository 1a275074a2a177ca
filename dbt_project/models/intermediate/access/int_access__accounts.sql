-- One row per (system, account_id) in the IAM snapshot as of run_date, classified for the access
-- rules: enabled or not, privileged (the account flag or a privileged entitlement), service account
-- (username prefix / explicit list, vars service_account_prefixes / service_accounts), the system's
-- criticality (seed system_criticality), entitlement counts and the latest login known from both
-- the account record (last_login_at) and the login events delivered on or before run_date.
{%- set prefixes = var('service_account_prefixes', []) %}
{%- set names = var('service_accounts', []) %}
with accounts as (

    select * from {{ ref('int_accounts__with_owner') }}

),

entitlements as (

    select
        system,
        account_id,
        count(*) as n_entitlements,
        sum(case when is_privileged then 1 else 0 end) as n_privileged_entitlements
    from {{ ref('stg_iam__entitlements') }}
    group by system, account_id

),

login_events as (

    select
        system,
        account_id,
        last_successful_login_at as last_login_event_at
    from {{ ref('int_accounts__login_summary') }}

),

criticality as (

    select * from {{ ref('system_criticality') }}

),

classified as (

    select
        accounts.system,
        accounts.account_id,
        accounts.username,
        accounts.employee_id,
        accounts.status,
        accounts.status = 'enabled' as is_enabled,
        accounts.is_privileged as account_is_privileged,
        coalesce(entitlements.n_entitlements, 0) as n_entitlements,
        coalesce(entitlements.n_privileged_entitlements, 0) as n_privileged_entitlements,
        coalesce(accounts.is_privileged, false)
            or coalesce(entitlements.n_privileged_entitlements, 0) > 0 as is_privileged,
        -- service accounts: a configured username prefix (compared case-insensitively, as plain
        -- text: substr, not LIKE, so '_' is not a wildcard) or an explicitly listed username
        (
            false
            {%- for prefix in prefixes %}
            or lower(substr(accounts.username, 1, {{ prefix | length }})) = lower('{{ prefix | replace("'", "''") }}')
            {%- endfor %}
            {%- if names | length > 0 %}
            or accounts.username in (
                {%- for name in names %}'{{ name | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor -%}
            )
            {%- endif %}
        ) as is_service_account,
        accounts.created_at,
        accounts.last_login_at,
        login_events.last_login_event_at,
        -- the later of the two, or the one that is known (plain greatest() is null as soon as one
        -- argument is on some warehouses)
        {{ coalesce_greatest('accounts.last_login_at', 'login_events.last_login_event_at') }} as last_activity_at,
        accounts.disabled_at,
        accounts.owner_status,
        accounts.owner_employee_status,
        accounts.owner_is_active,
        accounts.owner_is_leaver,
        accounts.owner_termination_date,
        coalesce(criticality.criticality, 'standard') as criticality,
        criticality.revocation_due_days as system_revocation_due_days,
        accounts._feed_date,
        accounts._source_file,
        accounts._source_line
    from accounts
    left join entitlements
        on accounts.system = entitlements.system
        and accounts.account_id = entitlements.account_id
    left join login_events
        on accounts.system = login_events.system
        and accounts.account_id = login_events.account_id
    left join criticality
        on accounts.system = criticality.system

)

select
    system,
    account_id,
    username,
    employee_id,
    status,
    is_enabled,
    account_is_privileged,
    {{ dbt.cast('n_entitlements', dbt.type_int()) }} as n_entitlements,
    {{ dbt.cast('n_privileged_entitlements', dbt.type_int()) }} as n_privileged_entitlements,
    is_privileged,
    coalesce(is_service_account, false) as is_service_account,
    created_at,
    last_login_at,
    last_login_event_at,
    last_activity_at,
    disabled_at,
    owner_status,
    owner_employee_status,
    owner_is_active,
    owner_is_leaver,
    owner_termination_date,
    criticality,
    {{ dbt.cast('system_revocation_due_days', dbt.type_int()) }} as system_revocation_due_days,
    _feed_date,
    _source_file,
    _source_line
from classified
