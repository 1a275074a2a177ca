-- One row per employee_id whose departure-risk tier moved between the previous slice of
-- fct_departure_risk_history (the latest as_of_date before run_date) and run_date's slice.
-- Someone missing from a slice (not an active employee that day) counts as low, so an employee
-- appearing at low or leaving from low is no movement; a leaver who was high shows as down with
-- in_current_slice false. Empty when the history holds no earlier slice.
with history as (

    select * from {{ ref('fct_departure_risk_history') }}

),

current_slice as (

    select * from history where as_of_date = {{ run_date_sql() }}

),

previous_date as (

    select max(as_of_date) as previous_as_of_date
    from history
    where as_of_date < {{ run_date_sql() }}

),

previous_slice as (

    select history.*
    from history
    inner join previous_date
        on history.as_of_date = previous_date.previous_as_of_date

),

paired as (

    select
        coalesce(current_slice.employee_id, previous_slice.employee_id) as employee_id,
        previous_slice.tier as previous_tier,
        previous_slice.score as previous_score,
        current_slice.tier as current_tier,
        current_slice.score as current_score,
        current_slice.employee_id is not null as in_current_slice,
        previous_slice.employee_id is not null as in_previous_slice,
        case coalesce(previous_slice.tier, 'low') when 'high' then 3 when 'medium' then 2 else 1 end as previous_rank,
        case coalesce(current_slice.tier, 'low') when 'high' then 3 when 'medium' then 2 else 1 end as current_rank
    from current_slice
    full outer join previous_slice
        on current_slice.employee_id = previous_slice.employee_id

)

select
    {{ run_date_sql() }} as as_of_date,
    previous_date.previous_as_of_date,
    paired.employee_id,
    paired.previous_tier,
    paired.current_tier,
    paired.previous_score,
    paired.current_score,
    case when paired.current_rank > paired.previous_rank then 'up' else 'down' end as direction,
    paired.in_previous_slice,
    paired.in_current_slice,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from paired
cross join previous_date
where previous_date.previous_as_of_date is not null
  and paired.current_rank <> paired.previous_rank
