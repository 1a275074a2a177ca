-- Rule AL-06, access creep after a move. One row per (employee_id, system, account_id, entitlement):
-- for an employee (not a leaver) whose latest job change took effect within the last
-- access_creep_lookback_days (180, inclusive) on or before run_date, an entitlement on one of their
-- enabled accounts that was granted before the move (UTC date of granted_at before effective_date;
-- an unknown granted_at counts as before) and that no other current employee (not a leaver) in the
-- mover's current position holds on an enabled account. Listed for review; P1 when the
-- entitlement is privileged, else P2.
{%- set lookback = var('access_creep_lookback_days') | int %}
with employees as (

    select * from {{ ref('int_employees__with_status') }}
    where not is_leaver

),

moves as (

    select
        employee_id,
        effective_date,
        old_department,
        old_position,
        new_department,
        new_position,
        row_number() over (partition by employee_id order by effective_date desc) as recency_rank
    from {{ ref('stg_hr__job_changes') }}
    where effective_date <= {{ run_date_sql() }}
      and effective_date >= {{ dbt.cast(dbt.dateadd('day', -lookback, run_date_sql()), 'date') }}

),

held as (

    -- every entitlement on an enabled account, with its holder's current position
    select
        employees.employee_id,
        employees.position,
        accounts.system,
        accounts.account_id,
        entitlements.entitlement,
        entitlements.is_privileged,
        entitlements.granted_at
    from {{ ref('stg_iam__entitlements') }} as entitlements
    inner join {{ ref('int_access__accounts') }} as accounts
        on entitlements.system = accounts.system
        and entitlements.account_id = accounts.account_id
    inner join employees
        on accounts.employee_id = employees.employee_id
    where accounts.is_enabled

),

peer_rights as (

    select distinct position, system, entitlement, employee_id
    from held

),

position_size as (

    select position, count(*) - 1 as n_peers
    from employees
    group by position

),

kept as (

    select
        held.*,
        moves.effective_date,
        moves.old_department,
        moves.old_position,
        moves.new_department,
        moves.new_position
    from held
    inner join moves
        on held.employee_id = moves.employee_id
        and moves.recency_rank = 1
    where held.granted_at is null
       or {{ utc_date('held.granted_at') }} < moves.effective_date

)

select
    kept.employee_id,
    kept.system,
    kept.account_id,
    kept.entitlement,
    kept.is_privileged,
    kept.granted_at,
    kept.effective_date,
    kept.old_department,
    kept.old_position,
    kept.new_department,
    kept.new_position,
    kept.position as current_position,
    {{ dbt.cast(dbt.datediff('kept.effective_date', run_date_sql(), 'day'), dbt.type_int()) }} as days_since_move,
    {{ dbt.cast('coalesce(position_size.n_peers, 0)', dbt.type_int()) }} as n_peers_in_position,
    case when kept.is_privileged then 'P1' else 'P2' end as priority,
    'AL-06' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from kept
left join position_size
    on kept.position = position_size.position
where not exists (
    select 1
    from peer_rights
    where peer_rights.position = kept.position
      and peer_rights.system = kept.system
      and peer_rights.entitlement = kept.entitlement
      and peer_rights.employee_id <> kept.employee_id
)
