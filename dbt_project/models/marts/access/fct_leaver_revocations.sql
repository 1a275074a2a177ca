-- Rule AL-11, revocation history (feeds the revocation-timeliness KPI). One row per leaver account, ever: every
-- (system, account_id) of int_access__leaver_accounts - accounts of employees whose
-- termination_date <= run_date that were still enabled when the departure began.
--   revoked_at          when access ended: the account's disabled_at when known and consistent,
--                       else the end (23:59:59 UTC) of the first snapshot night it no longer shows
--                       enabled (disabled, locked or gone); null while still enabled (is_open)
--   revoked_within_due  the revocation's UTC date is on or before due_date; while open: false once
--                       the due date has passed, null before that
--   hours_to_revoke     hours from the start of the termination day (00:00 UTC), or from the
--                       reported_at of the HR event the same-day path acted on for that
--                       termination (urgent.events, docs/events.md: the event's UTC day within
--                       hr_event_window_days of HR's termination day; the earliest if several), to
--                       revoked_at (negative when revoked during the notice period); null while open
--   kpi_exclusion_reason 'disabled_when_first_seen': the account was already disabled, locked or
--                       gone on the first night Vigil saw it and IAM gave no usable disabled_at
--                       (e.g. people who left years before go-live): revoked_at, hours_to_revoke
--                       and revoked_within_due are null and the KPIs count it as excluded
{#- The same-day path's record (vigil.actions.urgent): absent in a warehouse that never had an
    HR event, so it is looked up, not declared as a source. -#}
{%- set hr_events = adapter.get_relation(database=target.database, schema='urgent', identifier='events') if execute else none %}
with leaver_accounts as (

    select * from {{ ref('int_access__leaver_accounts') }}

),

reported as (

    -- when HR reported the departure the same-day path acted on: the response starts there
    {%- if hr_events %}
    select
        employee_id,
        {{ utc_date('effective_at') }} as termination_date,
        min(reported_at) as reported_at
    from {{ hr_events }}
    where status = 'acted'
      and kind in ('dismissal', 'termination', 'rehire_cancel')
    group by employee_id, {{ utc_date('effective_at') }}
    {%- else %}
    select
        {{ dbt.cast('null', dbt.type_string()) }} as employee_id,
        {{ dbt.cast('null', 'date') }} as termination_date,
        {{ dbt.cast('null', type_timestamptz()) }} as reported_at
    where 1 = 0
    {%- endif %}

),

departure_reported as (

    -- HR may record the departure a day or two from the event's day (the last day worked, the day
    -- after): the same departure within hr_event_window_days, as the tickets decide
    -- (vigil.actions.tickets.store.same_departure)
    select
        departures.employee_id,
        departures.termination_date,
        min(reported.reported_at) as reported_at
    from (select distinct employee_id, termination_date from leaver_accounts) as departures
    inner join reported
        on departures.employee_id = reported.employee_id
        and {{ dbt.datediff('departures.termination_date', 'reported.termination_date', 'day') }}
            between -{{ var('hr_event_window_days') | int }} and {{ var('hr_event_window_days') | int }}
    group by departures.employee_id, departures.termination_date

),

timed as (

    select
        leaver_accounts.*,
        case
            when revoked_at is not null then {{ dbt.datediff(
                'coalesce(departure_reported.reported_at, ' ~ utc_instant('leaver_accounts.termination_date', '00:00:00') ~ ')',
                'revoked_at', 'second') }}
        end as seconds_to_revoke
    from leaver_accounts
    left join departure_reported
        on leaver_accounts.employee_id = departure_reported.employee_id
        and leaver_accounts.termination_date = departure_reported.termination_date

)

select
    employee_id,
    system,
    account_id,
    is_privileged,
    criticality,
    termination_date,
    due_date,
    due_at,
    revoked_at,
    case
        when is_revocation_time_unknown then null
        when revoked_at is not null then {{ utc_date('revoked_at') }} <= due_date
        when {{ run_date_sql() }} > due_date then false
    end as revoked_within_due,
    -- hours with 2 decimals, rounded half up in exact arithmetic on both engines
    {{ dbt.cast('floor((seconds_to_revoke * 100 + 1800) / 3600.0) / 100.0', 'decimal(12,2)') }} as hours_to_revoke,
    is_open,
    revoked_on,
    last_enabled_on,
    first_seen_on,
    is_revocation_time_unknown,
    case
        when is_revocation_time_unknown then 'disabled_when_first_seen'
    end as kpi_exclusion_reason,
    {{ is_drill('employee_id') }} as is_drill,
    'AL-11' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from timed
