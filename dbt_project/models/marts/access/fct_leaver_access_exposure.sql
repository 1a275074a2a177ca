-- Rule AL-01, leaver access exposure. One row per (system, account_id): an account that is enabled
-- on run_date and belongs to an employee whose termination_date <= run_date, with its revocation
-- due date/time (see int_access__leaver_accounts), how overdue it is and a priority:
--   P1  privileged, or a successful login after the termination date (AL-03,
--       fct_post_termination_logins), or overdue on a 'critical' system (seed system_criticality)
--   P2  overdue (run_date after due_date)
--   P3  not yet due (due today or later)
-- The priority is recomputed every night from the account's state, so it rises as the account
-- becomes overdue or is used after termination; revocation tickets follow it (docs/tickets.md).
-- Entitlements still held are counted and listed (fct_leaver_entitlements has one row each).
with leaver_accounts as (

    select * from {{ ref('int_access__leaver_accounts') }}
    where is_open

),

accounts as (

    select * from {{ ref('int_access__accounts') }}

),

entitlements as (

    -- Only the leavers' accounts: aggregating every entitlement of the estate to keep a few dozen
    -- rows cost seconds at 2M entitlements (docs/benchmarks.md).
    select
        e.system,
        e.account_id,
        {{ dbt.listagg('e.entitlement', "', '", 'order by e.entitlement') }} as entitlements,
        {{ dbt.listagg("case when e.is_privileged then e.entitlement end", "', '", 'order by e.entitlement') }} as privileged_entitlements
    from {{ ref('stg_iam__entitlements') }} as e
    where exists (
        select 1 from leaver_accounts as l
        where l.system = e.system and l.account_id = e.account_id
    )
    group by e.system, e.account_id

),

post_termination_logins as (

    select distinct system, account_id
    from {{ ref('fct_post_termination_logins') }}
    where outcome = 'success'

),

scored as (

    select
        leaver_accounts.*,
        {{ run_date_sql() }} > leaver_accounts.due_date as is_overdue,
        exists (
            select 1 from post_termination_logins as l
            where l.system = leaver_accounts.system and l.account_id = leaver_accounts.account_id
        ) as has_post_termination_login,
        case
            when {{ run_date_sql() }} > leaver_accounts.due_date
                then {{ dbt.datediff('leaver_accounts.due_date', run_date_sql(), 'day') }}
            else 0
        end as days_overdue
    from leaver_accounts

)

select
    scored.employee_id,
    scored.system,
    scored.account_id,
    scored.termination_date,
    scored.is_privileged,
    scored.criticality,
    scored.revocation_due_days,
    scored.due_date,
    scored.due_at,
    scored.is_overdue,
    {{ dbt.cast('scored.days_overdue', dbt.type_int()) }} as days_overdue,
    scored.has_post_termination_login,
    case
        when scored.is_privileged then 'P1'
        when scored.has_post_termination_login then 'P1'
        when scored.is_overdue and scored.criticality = 'critical' then 'P1'
        when scored.is_overdue then 'P2'
        else 'P3'
    end as priority,
    coalesce(accounts.n_entitlements, 0) as n_entitlements,
    coalesce(accounts.n_privileged_entitlements, 0) as n_privileged_entitlements,
    entitlements.entitlements,
    entitlements.privileged_entitlements,
    accounts.last_activity_at,
    'AL-01' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from scored
left join accounts
    on scored.system = accounts.system
    and scored.account_id = accounts.account_id
left join entitlements
    on scored.system = entitlements.system
    and scored.account_id = entitlements.account_id
