-- Rule AL-05, dormant accounts. One row per (system, account_id): an enabled account on run_date
-- whose last activity is MORE than dormant_after_days (90) days before run_date. A login exactly
-- 90 days before run_date is not dormant yet (day 90 is still inside the window); 91 days is.
-- Last activity, by precedence:
--   last_login   the later of the account's last_login_at and its latest successful login event
--   created_at   never logged in: the day the account was created
--   first_seen   neither known: the first snapshot night that showed the account
-- Dates are UTC calendar dates. Service accounts and leavers' accounts are included (a dormant
-- account is a risk whoever owns it). Priority P2 when privileged, else P3.
{%- set threshold = var('dormant_after_days') | int %}
with accounts as (

    select * from {{ ref('int_access__accounts') }}
    where is_enabled

),

history as (

    select system, account_id, first_seen_on from {{ ref('int_access__account_history') }}

),

dated as (

    select
        accounts.*,
        case
            when accounts.last_activity_at is not null then 'last_login'
            when accounts.created_at is not null then 'created_at'
            else 'first_seen'
        end as dormant_basis,
        coalesce(
            {{ utc_date('accounts.last_activity_at') }},
            {{ utc_date('accounts.created_at') }},
            history.first_seen_on
        ) as last_activity_date
    from accounts
    left join history
        on accounts.system = history.system
        and accounts.account_id = history.account_id

),

measured as (

    select
        dated.*,
        {{ dbt.datediff('last_activity_date', run_date_sql(), 'day') }} as days_inactive
    from dated

)

select
    system,
    account_id,
    employee_id,
    owner_status,
    is_service_account,
    is_privileged,
    criticality,
    dormant_basis,
    last_activity_date,
    {{ dbt.cast('days_inactive', dbt.type_int()) }} as days_inactive,
    case when is_privileged then 'P2' else 'P3' end as priority,
    'AL-05' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from measured
where days_inactive > {{ threshold }}
