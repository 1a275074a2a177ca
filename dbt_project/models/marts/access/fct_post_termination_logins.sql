-- Rule AL-03, post-termination activity (a security event). One row per login event
-- (system, account_id, login_at) whose UTC date is after the account owner's termination_date.
-- Two sources, deduplicated on (system, account_id, login_at) by int_accounts__login_instants:
--   * the login events of stg_iam__logins (successful ones; failed attempts too when the var
--     post_termination_include_failed_logins is true), and
--   * every last_login_at any nightly account snapshot on or before run_date showed
--     (stg_iam__account_snapshots): it catches logins the events feed missed.
-- An instant present in both is one row (source 'both'). The owner is the employee_id of the
-- account's latest snapshot row. A login on the termination day itself is not flagged.
with instants as (

    select * from {{ ref('int_accounts__login_instants') }}

),

deduplicated as (

    -- an instant counts when a successful event or a snapshot showed it (a failed attempt only
    -- when the var asks for failed logins); it is a success when either of those two did
    select
        system,
        account_id,
        login_at,
        first_success_event_on is not null or first_snapshot_on is not null as any_success,
        {%- if var('post_termination_include_failed_logins') %}
        first_success_event_on is not null or first_failure_event_on is not null as in_events,
        {%- else %}
        first_success_event_on is not null as in_events,
        {%- endif %}
        first_snapshot_on is not null as in_snapshots,
        {%- if var('post_termination_include_failed_logins') %}
        {{ coalesce_least('first_success_event_on', 'first_failure_event_on', 'first_snapshot_on') }} as first_reported_on
        {%- else %}
        {{ coalesce_least('first_success_event_on', 'first_snapshot_on') }} as first_reported_on
        {%- endif %}
    from instants
    {%- if not var('post_termination_include_failed_logins') %}
    where first_success_event_on is not null or first_snapshot_on is not null
    {%- endif %}

),

history as (

    select * from {{ ref('int_access__account_history') }}

),

leavers as (

    select * from {{ ref('int_employees__with_status') }}
    where is_leaver

),

flagged as (

    select
        history.employee_id,
        deduplicated.system,
        deduplicated.account_id,
        deduplicated.login_at,
        {{ utc_date('deduplicated.login_at') }} as login_date,
        leavers.termination_date,
        case when deduplicated.any_success then 'success' else 'failure' end as outcome,
        case
            when deduplicated.in_events and deduplicated.in_snapshots then 'both'
            when deduplicated.in_events then 'login_events'
            else 'last_login_at'
        end as source,
        deduplicated.first_reported_on,
        history.latest_status as account_status
    from deduplicated
    inner join history
        on deduplicated.system = history.system
        and deduplicated.account_id = history.account_id
    inner join leavers
        on history.employee_id = leavers.employee_id
    where {{ utc_date('deduplicated.login_at') }} > leavers.termination_date

)

select
    employee_id,
    system,
    account_id,
    login_at,
    login_date,
    termination_date,
    {{ dbt.cast(dbt.datediff('termination_date', 'login_date', 'day'), dbt.type_int()) }} as days_after_termination,
    outcome,
    source,
    first_reported_on,
    first_reported_on = {{ run_date_sql() }} as is_new,
    account_status,
    'AL-03' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from flagged
