-- One row per (system, account_id, login_at) that a login event or any nightly account snapshot's
-- last_login_at delivered on or before run_date showed, with the first night each source reported
-- it: first_success_event_on / first_failure_event_on (login events by outcome) and
-- first_snapshot_on (an account snapshot's last_login_at). fct_post_termination_logins decides
-- which of them count (failed attempts only when post_termination_include_failed_logins).
--
-- Incremental: a night folds only the login and snapshot partitions after the last one folded in
-- (_nights_through); an instant already stored keeps the earliest night of each source and is
-- rewritten only when a source reports it for the first time. Without it,
-- every night would group every snapshot row ever delivered (500k accounts a night at medium).
-- A full build is the same fold with nothing stored; vigil.incremental decides when one is needed.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['system', 'account_id', 'login_at'],
        on_schema_change='fail'
    )
}}

with new_events as (

    select system, account_id, login_at, outcome, _feed_date
    from {{ ref('stg_iam__logins') }}
    {{ not_yet_folded('_nights_through') }}

),

new_snapshot_logins as (

    select system, account_id, last_login_at as login_at, _feed_date
    from (
        select * from {{ ref('stg_iam__account_snapshots') }}
        {{ not_yet_folded('_nights_through') }}
    ) as new_snapshots
    where last_login_at is not null

),

new_instants as (

    select
        system,
        account_id,
        login_at,
        min(case when reported_as = 'success' then _feed_date end) as first_success_event_on,
        min(case when reported_as = 'failure' then _feed_date end) as first_failure_event_on,
        min(case when reported_as = 'snapshot' then _feed_date end) as first_snapshot_on,
        max(_feed_date) as _nights_through
    from (
        select system, account_id, login_at, outcome as reported_as, _feed_date from new_events
        union all
        select system, account_id, login_at, 'snapshot' as reported_as, _feed_date from new_snapshot_logins
    ) as delivered
    group by system, account_id, login_at

),

stored as (

    {% if is_incremental() %}
    select system, account_id, login_at, first_success_event_on, first_failure_event_on, first_snapshot_on
    from {{ this }}
    {% else %}
    select system, account_id, login_at, first_success_event_on, first_failure_event_on, first_snapshot_on
    from new_instants
    where 1 = 0
    {% endif %}

)

select
    fresh.system,
    fresh.account_id,
    fresh.login_at,
    {{ coalesce_least('stored.first_success_event_on', 'fresh.first_success_event_on') }} as first_success_event_on,
    {{ coalesce_least('stored.first_failure_event_on', 'fresh.first_failure_event_on') }} as first_failure_event_on,
    {{ coalesce_least('stored.first_snapshot_on', 'fresh.first_snapshot_on') }} as first_snapshot_on,
    fresh._nights_through
from new_instants as fresh
left join stored
    on fresh.system = stored.system
    and fresh.account_id = stored.account_id
    and fresh.login_at = stored.login_at
-- only what changes: a stored instant keeps its earliest nights, so it is rewritten only when a
-- source reports it for the first time (most of a snapshot repeats instants stored on earlier nights)
where stored.system is null
    or (stored.first_success_event_on is null and fresh.first_success_event_on is not null)
    or (stored.first_failure_event_on is null and fresh.first_failure_event_on is not null)
    or (stored.first_snapshot_on is null and fresh.first_snapshot_on is not null)
