-- One row per (system, account_id) with any login event delivered on or before run_date: its latest
-- successful and latest failed login.
--
-- Incremental: the login feed only ever adds events, so a night folds only the partitions after
-- the last one folded in (_nights_through) into the stored rows of the accounts they mention (the
-- later of the stored and the new instant); accounts with no new events are not rewritten. Without
-- it, every night would re-aggregate every login event ever delivered (a year of a medium estate's
-- events is ~110M rows). A full build is the same fold with nothing stored; vigil.incremental
-- decides when one is needed (reruns, backfills, reloads).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['system', 'account_id'],
        on_schema_change='fail'
    )
}}

with new_logins as (

    select * from {{ ref('stg_iam__logins') }}
    {{ not_yet_folded('_nights_through') }}

),

new_per_account as (

    select
        system,
        account_id,
        max(case when outcome = 'success' then login_at end) as last_successful_login_at,
        max(case when outcome = 'failure' then login_at end) as last_failed_login_at,
        max(_feed_date) as _nights_through
    from new_logins
    group by system, account_id

),

stored as (

    {% if is_incremental() %}
    select system, account_id, last_successful_login_at, last_failed_login_at
    from {{ this }}
    {% else %}
    select system, account_id, last_successful_login_at, last_failed_login_at
    from new_per_account
    where 1 = 0
    {% endif %}

)

select
    fresh.system,
    fresh.account_id,
    {{ coalesce_greatest('stored.last_successful_login_at', 'fresh.last_successful_login_at') }} as last_successful_login_at,
    {{ coalesce_greatest('stored.last_failed_login_at', 'fresh.last_failed_login_at') }} as last_failed_login_at,
    fresh._nights_through
from new_per_account as fresh
left join stored
    on fresh.system = stored.system
    and fresh.account_id = stored.account_id
