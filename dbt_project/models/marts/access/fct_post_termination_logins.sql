-- Rule AL-03, post-termination activity (a security event). One row per login event
-- (system, account_id, login_at) whose UTC date is after the account owner's termination_date.
-- Two sources, deduplicated on (system, account_id, login_at):
--   * the login events of stg_iam__logins (successful ones; failed attempts too when the var
--     post_termination_include_failed_logins is true), and
--   * every last_login_at any nightly account snapshot on or before run_date showed
--     (stg_iam__account_snapshots): it catches logins the events feed missed.
-- An instant present in both is one row (source 'both'). The owner is the employee_id of the
-- account's latest snapshot row. A login on the termination day itself is not flagged.
with events as (

    select
        system,
        account_id,
        login_at,
        outcome,
        _feed_date
    from {{ ref('stg_iam__logins') }}
    {%- if not var('post_termination_include_failed_logins') %}
    where outcome = 'success'
    {%- endif %}

),

snapshot_logins as (

    select
        system,
        account_id,
        last_login_at as login_at,
        min(_feed_date) as _feed_date
    from {{ ref('stg_iam__account_snapshots') }}
    where last_login_at is not null
    group by system, account_id, last_login_at

),

combined as (

    select
        system,
        account_id,
        login_at,
        outcome,
        1 as in_events,
        0 as in_snapshots,
        _feed_date
    from events
    union all
    select
        system,
        account_id,
        login_at,
        'success' as outcome,
        0 as in_events,
        1 as in_snapshots,
        _feed_date
    from snapshot_logins

),

deduplicated as (

    select
        system,
        account_id,
        login_at,
        max(case when outcome = 'success' then 1 else 0 end) as any_success,
        max(in_events) as in_events,
        max(in_snapshots) as in_snapshots,
        min(_feed_date) as first_reported_on
    from combined
    group by system, account_id, login_at

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
        case when deduplicated.any_success = 1 then 'success' else 'failure' end as outcome,
        case
            when deduplicated.in_events = 1 and deduplicated.in_snapshots = 1 then 'both'
            when deduplicated.in_events = 1 then 'login_events'
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
