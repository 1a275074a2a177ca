-- One row per employee_id in the HR snapshot as of run_date: current status and dates, is_active,
-- is_leaver (termination_date <= run_date), tenure, and what the optional HR histories add
-- (latest performance rating, last job change, assets still out).
with employees as (

    select * from {{ ref('int_employees__with_status') }}

),

performance as (

    select
        employee_id,
        period_end,
        rating,
        row_number() over (partition by employee_id order by period_end desc) as recency_rank
    from {{ ref('stg_hr__performance_reviews') }}
    where period_end <= {{ run_date_sql() }}

),

latest_rating as (

    select employee_id, period_end as latest_rating_period_end, rating as latest_rating
    from performance
    where recency_rank = 1

),

job_changes as (

    select
        employee_id,
        max(effective_date) as last_job_change_date,
        count(*) as n_job_changes
    from {{ ref('stg_hr__job_changes') }}
    where effective_date <= {{ run_date_sql() }}
    group by employee_id

),

assets as (

    -- issued on or before run_date and not back by run_date
    select
        employee_id,
        count(*) as n_assets_outstanding
    from {{ ref('stg_hr__assets') }}
    where issued_date <= {{ run_date_sql() }}
      and (returned_date is null or returned_date > {{ run_date_sql() }})
    group by employee_id

)

select
    employees.employee_id,
    employees.full_name_token,
    employees.national_id_token,
    employees.email_token,
    employees.department,
    employees.position,
    employees.manager_id,
    employees.employment_type,
    employees.status,
    employees.hire_date,
    employees.contract_end_date,
    employees.notice_date,
    employees.termination_date,
    employees.termination_reason,
    employees.is_active,
    employees.is_leaver,
    employees.is_leaving,
    employees.tenure_days,
    employees.tenure_years,
    latest_rating.latest_rating,
    latest_rating.latest_rating_period_end,
    job_changes.last_job_change_date,
    {{ dbt.cast('coalesce(job_changes.n_job_changes, 0)', dbt.type_int()) }} as n_job_changes,
    {{ dbt.cast('coalesce(assets.n_assets_outstanding, 0)', dbt.type_int()) }} as n_assets_outstanding,
    employees.as_of_date,
    employees._feed_date,
    employees._source_file,
    employees._source_line
from employees
left join latest_rating
    on employees.employee_id = latest_rating.employee_id
left join job_changes
    on employees.employee_id = job_changes.employee_id
left join assets
    on employees.employee_id = assets.employee_id
