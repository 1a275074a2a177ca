-- One row per client_id: the relationship-manager assignment in force on run_date, from the latest
-- rm_assignments history on or before run_date. An assignment is in force when
-- start_date <= run_date and (end_date is null or end_date >= run_date); end_date is the last day
-- served. When two overlap (a handover day) the later start_date wins, then the higher rm id.
with assignments as (

    select * from {{ ref('stg_crm__rm_assignments') }}

),

in_force as (

    select
        assignments.*,
        row_number() over (
            partition by client_id
            order by start_date desc, rm_employee_id desc
        ) as recency_rank
    from assignments
    where start_date <= {{ run_date_sql() }}
      and (end_date is null or end_date >= {{ run_date_sql() }})

)

select
    client_id,
    rm_employee_id,
    start_date,
    end_date,
    _feed_date
from in_force
where recency_rank = 1
