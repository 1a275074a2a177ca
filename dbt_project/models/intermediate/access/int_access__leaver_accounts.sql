-- One row per (system, account_id) whose owner (employee_id of its latest snapshot row) is a leaver
-- (termination_date <= run_date) and whose access was still enabled when the departure began: the
-- account is enabled now (is_open), or its access ended (revoked_at) on or after the notice date
-- (the termination date when HR recorded no notice). Accounts switched off before the departure
-- (e.g. at an earlier move) are not part of it. An account already disabled when Vigil first saw
-- it, with no usable disabled_at (int_access__account_history: revoked_at null), is part of it
-- when first seen on or after the departure start, flagged is_revocation_time_unknown: it may have
-- been revoked at any time before, so it carries no revocation time (and is left out of the
-- time-to-revoke KPIs, which count it as excluded).
--
-- Revocation due date (rule AL-01): privileged accounts by the end of
-- termination_date + revocation_due_days_privileged (0: the termination day itself); the rest by
-- termination_date + the system's revocation_due_days from the seed system_criticality, or
-- revocation_due_days_standard (1) when the seed gives none. A privileged account is never due
-- later than the privileged default, whatever the seed says. due_at is 23:59:59 UTC of due_date.
{%- set due_privileged = var('revocation_due_days_privileged') | int %}
{%- set due_standard = var('revocation_due_days_standard') | int %}
with history as (

    select * from {{ ref('int_access__account_history') }}

),

current_accounts as (

    select * from {{ ref('int_access__accounts') }}

),

leavers as (

    select * from {{ ref('int_employees__with_status') }}
    where is_leaver

),

criticality as (

    select * from {{ ref('system_criticality') }}

),

joined as (

    select
        leavers.employee_id,
        history.system,
        history.account_id,
        leavers.termination_date,
        leavers.notice_date,
        coalesce(leavers.notice_date, leavers.termination_date) as departure_start_date,
        history.revoked_on is null as is_open,
        current_accounts.status as current_status,
        history.is_in_latest_snapshot,
        -- while open: the account flag or a privileged entitlement tonight (int_access__accounts);
        -- once revoked: the same, on the last night it was enabled (int_access__account_history),
        -- so AL-01 and AL-11 give an account the same privilege and due date before and after
        case
            when history.revoked_on is null then coalesce(current_accounts.is_privileged, false)
            else coalesce(history.is_privileged_when_last_enabled, false)
        end as is_privileged,
        coalesce(criticality.criticality, 'standard') as criticality,
        criticality.revocation_due_days as system_revocation_due_days,
        history.first_seen_on,
        history.last_enabled_on,
        history.revoked_on,
        history.revoked_at,
        history.disabled_at
    from history
    inner join leavers
        on history.employee_id = leavers.employee_id
    left join current_accounts
        on history.system = current_accounts.system
        and history.account_id = current_accounts.account_id
    left join criticality
        on history.system = criticality.system

),

in_scope as (

    select
        joined.*,
        not is_open and revoked_at is null as is_revocation_time_unknown
    from joined
    where is_open
       or {{ utc_date('revoked_at') }} >= departure_start_date
       -- already not enabled when Vigil first saw it, time unknown: it may still have been
       -- enabled when the departure began, unless it was seen before the departure started
       or (revoked_at is null and first_seen_on >= departure_start_date)

),

with_due as (

    select
        in_scope.*,
        case
            when is_privileged
                then least({{ due_privileged }}, coalesce(system_revocation_due_days, {{ due_privileged }}))
            else coalesce(system_revocation_due_days, {{ due_standard }})
        end as revocation_due_days
    from in_scope

),

dated as (

    select
        with_due.*,
        {{ dbt.cast(dbt.dateadd('day', 'revocation_due_days', 'termination_date'), 'date') }} as due_date
    from with_due

)

select
    employee_id,
    system,
    account_id,
    termination_date,
    notice_date,
    departure_start_date,
    is_privileged,
    criticality,
    {{ dbt.cast('revocation_due_days', dbt.type_int()) }} as revocation_due_days,
    due_date,
    {{ utc_instant('due_date', '23:59:59') }} as due_at,
    is_open,
    current_status,
    is_in_latest_snapshot,
    first_seen_on,
    last_enabled_on,
    revoked_on,
    revoked_at,
    disabled_at,
    is_revocation_time_unknown
from dated
