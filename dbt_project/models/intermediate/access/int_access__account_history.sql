-- One row per (system, account_id) that any nightly account snapshot on or before run_date shows:
-- when it was first and last seen, the last night it was enabled and the night its access ended
-- (revoked_on: the first snapshot night after the last enabled one, whether the account shows
-- disabled/locked that night or is gone from the snapshot), with the attributes of its latest row.
-- revoked_at is the account's disabled_at when that is known and consistent (dated on or after the
-- last enabled night - a snapshot may be taken before a same-day disable - and on or before
-- revoked_on), else the end of the revoked_on night (23:59:59 UTC):
-- a snapshot describes the end of its business day.
with snapshots as (

    select * from {{ ref('stg_iam__account_snapshots') }}

),

nights as (

    select distinct _feed_date as night from snapshots

),

latest_night as (

    select max(night) as night from nights

),

per_account as (

    select
        system,
        account_id,
        min(_feed_date) as first_seen_on,
        max(_feed_date) as last_seen_on,
        max(case when status = 'enabled' then _feed_date end) as last_enabled_on
    from snapshots
    group by system, account_id

),

latest_row as (

    select
        snapshots.*,
        row_number() over (
            partition by system, account_id order by _feed_date desc
        ) as recency_rank
    from snapshots

),

with_revocation as (

    select
        per_account.*,
        case
            when per_account.last_enabled_on is null then per_account.first_seen_on
            when per_account.last_enabled_on = latest_night.night then null
            else (select min(nights.night) from nights where nights.night > per_account.last_enabled_on)
        end as revoked_on,
        latest_night.night as latest_night
    from per_account
    cross join latest_night

),

last_enabled_row as (

    select
        snapshots.system,
        snapshots.account_id,
        snapshots.is_privileged as is_privileged_when_last_enabled
    from snapshots
    inner join per_account
        on snapshots.system = per_account.system
        and snapshots.account_id = per_account.account_id
        and snapshots._feed_date = per_account.last_enabled_on

)

select
    with_revocation.system,
    with_revocation.account_id,
    latest_row.employee_id,
    latest_row.username,
    latest_row.status as latest_status,
    with_revocation.last_seen_on = with_revocation.latest_night as is_in_latest_snapshot,
    with_revocation.first_seen_on,
    with_revocation.last_seen_on,
    with_revocation.last_enabled_on,
    with_revocation.revoked_on,
    last_enabled_row.is_privileged_when_last_enabled,
    latest_row.created_at,
    latest_row.disabled_at,
    case
        when with_revocation.revoked_on is null then null
        when latest_row.disabled_at is not null
            and {{ utc_date('latest_row.disabled_at') }} <= with_revocation.revoked_on
            and (
                with_revocation.last_enabled_on is null
                or {{ utc_date('latest_row.disabled_at') }} >= with_revocation.last_enabled_on
            )
            then latest_row.disabled_at
        else {{ utc_instant('with_revocation.revoked_on', '23:59:59') }}
    end as revoked_at
from with_revocation
inner join latest_row
    on with_revocation.system = latest_row.system
    and with_revocation.account_id = latest_row.account_id
    and latest_row.recency_rank = 1
left join last_enabled_row
    on with_revocation.system = last_enabled_row.system
    and with_revocation.account_id = last_enabled_row.account_id
