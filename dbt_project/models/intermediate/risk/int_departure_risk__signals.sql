-- One row per active employee_id as of run_date: the departure-risk signals (each a flag with the
-- dates behind it) and the business-impact inputs. Scoring is done in fct_departure_risk.
--   performance drop   latest rating (period ending on or before run_date) at least
--                      departure_performance_drop_min below the one before
--   job change         effective in the last departure_job_change_days (run_date - N .. run_date);
--                      a demotion when the new position's level (seed position_levels) is lower
--   contract end       contract_end_date in run_date .. run_date + departure_contract_end_days
--   notice given       notice_date on or before run_date, or HR status 'notice'
--   manager left       the current manager's termination_date in run_date - departure_manager_left_days .. run_date
--   impact             active clients served as RM (CRM record), their AUM, enabled privileged accounts
with employees as (

    select * from {{ ref('int_employees__with_status') }}

),

ratings as (

    select
        employee_id,
        period_end,
        rating,
        row_number() over (partition by employee_id order by period_end desc) as recency_rank
    from {{ ref('stg_hr__performance_reviews') }}
    where period_end <= {{ run_date_sql() }}

),

rating_pairs as (

    select
        latest.employee_id,
        latest.rating as latest_rating,
        latest.period_end as latest_rating_period_end,
        previous.rating as previous_rating
    from ratings as latest
    left join ratings as previous
        on latest.employee_id = previous.employee_id
        and previous.recency_rank = 2
    where latest.recency_rank = 1

),

levels as (

    select position, level from {{ ref('position_levels') }}

),

recent_moves as (

    select
        moves.employee_id,
        moves.effective_date,
        moves.old_position,
        moves.new_position,
        case when new_level.level < old_level.level then 1 else 0 end as is_demotion,
        case when new_level.level > old_level.level then 1 else 0 end as is_promotion
    from {{ ref('stg_hr__job_changes') }} as moves
    left join levels as old_level
        on moves.old_position = old_level.position
    left join levels as new_level
        on moves.new_position = new_level.position
    where moves.effective_date <= {{ run_date_sql() }}
      and moves.effective_date >= {{ dbt.cast(dbt.dateadd('day', -1 * var('departure_job_change_days'), run_date_sql()), 'date') }}

),

moves as (

    select
        employee_id,
        max(effective_date) as last_job_change_date,
        max(is_demotion) as any_demotion,
        max(is_promotion) as any_promotion
    from recent_moves
    group by employee_id

),

managers as (

    select employee_id, termination_date
    from employees
    where is_leaver

),

book as (

    select
        rm_employee_id as employee_id,
        count(*) as n_clients,
        sum(coalesce(aum, 0)) as clients_aum
    from {{ ref('stg_crm__clients') }}
    where status = 'active'
      and rm_employee_id is not null
    group by rm_employee_id

),

privileged as (

    select distinct employee_id
    from {{ ref('int_accounts__with_owner') }}
    where status = 'enabled'
      and is_privileged
      and employee_id is not null

),

signals as (

    select
        employees.employee_id,
        employees.department,
        employees.position,
        employees.manager_id,
        employees.employment_type,
        employees.status,
        rating_pairs.latest_rating,
        rating_pairs.previous_rating,
        rating_pairs.latest_rating_period_end,
        coalesce(rating_pairs.previous_rating - rating_pairs.latest_rating >= {{ var('departure_performance_drop_min') }}, false)
            as has_performance_drop,
        moves.last_job_change_date,
        moves.last_job_change_date is not null as has_recent_job_change,
        coalesce(moves.any_demotion = 1, false) as has_demotion,
        coalesce(moves.any_promotion = 1, false) as has_promotion,
        employees.contract_end_date,
        coalesce(
            employees.contract_end_date >= {{ run_date_sql() }}
            and employees.contract_end_date <= {{ dbt.cast(dbt.dateadd('day', var('departure_contract_end_days'), run_date_sql()), 'date') }},
            false
        ) as has_contract_ending,
        employees.notice_date,
        (employees.notice_date is not null and employees.notice_date <= {{ run_date_sql() }})
            or employees.status = 'notice' as has_given_notice,
        managers.termination_date as manager_termination_date,
        coalesce(
            managers.termination_date >= {{ dbt.cast(dbt.dateadd('day', -1 * var('departure_manager_left_days'), run_date_sql()), 'date') }},
            false
        ) as has_manager_left,
        {{ dbt.cast('coalesce(book.n_clients, 0)', dbt.type_int()) }} as n_clients,
        {{ dbt.cast('coalesce(book.clients_aum, 0)', type_amount()) }} as clients_aum,
        privileged.employee_id is not null as has_privileged_access,
        employees._feed_date,
        employees._source_file,
        employees._source_line
    from employees
    left join rating_pairs
        on employees.employee_id = rating_pairs.employee_id
    left join moves
        on employees.employee_id = moves.employee_id
    left join managers
        on employees.manager_id = managers.employee_id
    left join book
        on employees.employee_id = book.employee_id
    left join privileged
        on employees.employee_id = privileged.employee_id
    where employees.is_active

)

select
    signals.*,
    {{ run_date_sql() }} as as_of_date
from signals
