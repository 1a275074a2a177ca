-- One row per (system, account_id) that any nightly account snapshot on or before run_date shows:
-- when it was first and last seen, the last night it was enabled and the night its access ended
-- (revoked_on: the first snapshot night after the last enabled one, whether the account shows
-- disabled/locked that night or is gone from the snapshot), with the attributes of its latest row.
-- revoked_at is the account's disabled_at when that is known and consistent (dated on or after the
-- last enabled night - a snapshot may be taken before a same-day disable - and on or before
-- revoked_on), else the end of the revoked_on night (23:59:59 UTC):
-- a snapshot describes the end of its business day. An account already disabled, locked or gone
-- when first seen (never seen enabled: revoked_on = first_seen_on) has no revoked_at unless its
-- disabled_at is usable: when its access ended is not known.
-- is_privileged_when_last_enabled is what AL-01 called the account on the last night it was
-- enabled: the account flag or a privileged entitlement in that night's entitlements snapshot (the
-- latest partition on or before it, as stg_iam__entitlements reads it); for an account never seen
-- enabled, the same on the first night it was seen. A revoked account thus keeps the privilege,
-- and so the due date, it had while exposed (int_access__leaver_accounts).
--
-- Incremental: a night folds only the snapshot nights after the last one folded in
-- (_nights_through) into the stored rows of the accounts they show, plus the accounts the last
-- folded night showed (they may have gone: revoked, no longer in the latest snapshot). Every
-- column is a fold of the two: first/last seen, last enabled, the latest row; revoked_on is the
-- stored one when the last enabled night is stored and was already followed by a night, else the
-- first new night after it. A full build is the same fold with nothing stored.
-- vigil.incremental decides when a full rebuild is needed instead (reruns, backfills, reloads).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['system', 'account_id'],
        on_schema_change='fail'
    )
}}

with new_snapshots as (

    select * from {{ ref('stg_iam__account_snapshots') }}
    {{ not_yet_folded('_nights_through') }}

),

new_nights as (

    select distinct _feed_date as night from new_snapshots

),

stored as (

    {% if is_incremental() %}
    select
        system, account_id, employee_id, username, latest_status, first_seen_on, last_seen_on,
        last_enabled_on, revoked_on, is_privileged_when_last_enabled, created_at, disabled_at,
        _nights_through
    from {{ this }} as previous
    where exists (select 1 from new_nights)
      and (
        previous.last_seen_on = (select max(_nights_through) from {{ this }})  -- shown by the last folded night
        or exists (
            select 1 from new_snapshots
            where new_snapshots.system = previous.system and new_snapshots.account_id = previous.account_id
        )
      )
    {% else %}
    select
        system, account_id, employee_id, username, status as latest_status, _feed_date as first_seen_on,
        _feed_date as last_seen_on, _feed_date as last_enabled_on, _feed_date as revoked_on,
        is_privileged as is_privileged_when_last_enabled, created_at, disabled_at,
        _feed_date as _nights_through
    from new_snapshots
    where 1 = 0
    {% endif %}

),

latest_night as (

    select coalesce(
        (select max(night) from new_nights),
        (select max(_nights_through) from stored)
    ) as night

),

entitlement_nights as (

    -- the entitlements partition each new night's rules read: the latest on or before the night
    select new_nights.night, max(partitions._feed_date) as entitlements_night
    from new_nights
    inner join (
        select distinct _feed_date from {{ ref('stg_iam__entitlement_snapshots') }}
    ) as partitions
        on partitions._feed_date <= new_nights.night
    group by new_nights.night

),

new_privileged_grants as (

    select distinct entitlement_nights.night, grants.system, grants.account_id
    from {{ ref('stg_iam__entitlement_snapshots') }} as grants
    inner join entitlement_nights
        on grants._feed_date = entitlement_nights.entitlements_night
    where grants.is_privileged

),

new_night_privilege as (

    -- each new snapshot row: privileged through the account flag or an entitlement that night
    select
        new_snapshots.system,
        new_snapshots.account_id,
        new_snapshots._feed_date,
        coalesce(new_snapshots.is_privileged, false)
            or new_privileged_grants.account_id is not null as is_privileged
    from new_snapshots
    left join new_privileged_grants
        on new_snapshots._feed_date = new_privileged_grants.night
        and new_snapshots.system = new_privileged_grants.system
        and new_snapshots.account_id = new_privileged_grants.account_id

),

new_per_account as (

    select
        system,
        account_id,
        min(_feed_date) as first_seen_on,
        max(_feed_date) as last_seen_on,
        max(case when status = 'enabled' then _feed_date end) as last_enabled_on
    from new_snapshots
    group by system, account_id

),

new_latest_row as (

    select
        new_snapshots.*,
        row_number() over (
            partition by system, account_id order by _feed_date desc
        ) as recency_rank
    from new_snapshots

),

new_last_enabled_row as (

    select
        new_night_privilege.system,
        new_night_privilege.account_id,
        new_night_privilege.is_privileged as is_privileged_when_last_enabled
    from new_night_privilege
    inner join new_per_account
        on new_night_privilege.system = new_per_account.system
        and new_night_privilege.account_id = new_per_account.account_id
        and new_night_privilege._feed_date = new_per_account.last_enabled_on

),

new_first_seen_row as (

    select
        new_night_privilege.system,
        new_night_privilege.account_id,
        new_night_privilege.is_privileged as is_privileged_when_first_seen
    from new_night_privilege
    inner join new_per_account
        on new_night_privilege.system = new_per_account.system
        and new_night_privilege.account_id = new_per_account.account_id
        and new_night_privilege._feed_date = new_per_account.first_seen_on

),

accounts as (

    select system, account_id from new_per_account
    union
    select system, account_id from stored

),

folded as (

    select
        accounts.system,
        accounts.account_id,
        case when latest.system is not null then latest.employee_id else stored.employee_id end as employee_id,
        case when latest.system is not null then latest.username else stored.username end as username,
        case when latest.system is not null then latest.status else stored.latest_status end as latest_status,
        coalesce(stored.first_seen_on, fresh.first_seen_on) as first_seen_on,
        coalesce(fresh.last_seen_on, stored.last_seen_on) as last_seen_on,
        coalesce(fresh.last_enabled_on, stored.last_enabled_on) as last_enabled_on,
        -- the stored revocation stands when the last enabled night is stored and a night followed it
        case when fresh.last_enabled_on is null and stored.last_enabled_on is not null then stored.revoked_on end
            as stored_revoked_on,
        case
            when fresh.last_enabled_on is not null then fresh_enabled.is_privileged_when_last_enabled
            when stored.system is not null then stored.is_privileged_when_last_enabled
            -- never seen enabled: what it was on the first night it was seen
            else fresh_first.is_privileged_when_first_seen
        end as is_privileged_when_last_enabled,
        case when latest.system is not null then latest.created_at else stored.created_at end as created_at,
        case when latest.system is not null then latest.disabled_at else stored.disabled_at end as disabled_at
    from accounts
    left join stored
        on accounts.system = stored.system
        and accounts.account_id = stored.account_id
    left join new_per_account as fresh
        on accounts.system = fresh.system
        and accounts.account_id = fresh.account_id
    left join new_latest_row as latest
        on accounts.system = latest.system
        and accounts.account_id = latest.account_id
        and latest.recency_rank = 1
    left join new_last_enabled_row as fresh_enabled
        on accounts.system = fresh_enabled.system
        and accounts.account_id = fresh_enabled.account_id
    left join new_first_seen_row as fresh_first
        on accounts.system = fresh_first.system
        and accounts.account_id = fresh_first.account_id

),

with_revocation as (

    select
        folded.*,
        case
            when folded.last_enabled_on is null then folded.first_seen_on
            when folded.last_enabled_on = latest_night.night then null
            when folded.stored_revoked_on is not null then folded.stored_revoked_on
            else (select min(new_nights.night) from new_nights where new_nights.night > folded.last_enabled_on)
        end as revoked_on,
        latest_night.night as latest_night
    from folded
    cross join latest_night

)

select
    system,
    account_id,
    employee_id,
    username,
    latest_status,
    last_seen_on = latest_night as is_in_latest_snapshot,
    first_seen_on,
    last_seen_on,
    last_enabled_on,
    revoked_on,
    is_privileged_when_last_enabled,
    created_at,
    disabled_at,
    case
        when revoked_on is null then null
        when disabled_at is not null
            and {{ utc_date('disabled_at') }} <= revoked_on
            and (
                last_enabled_on is null
                or {{ utc_date('disabled_at') }} >= last_enabled_on
            )
            then disabled_at
        -- already not enabled when first seen, and IAM says no (usable) disabled_at: when access
        -- ended is unknown (it may be years before the first night); never dated to revoked_on
        when last_enabled_on is null then null
        else {{ utc_instant('revoked_on', '23:59:59') }}
    end as revoked_at,
    latest_night as _nights_through
from with_revocation
