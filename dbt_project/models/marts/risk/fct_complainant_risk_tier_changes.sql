-- One row per complainant_id whose risk tier moved between the previous slice of
-- fct_complainant_risk_tier_history (the latest as_of_date before run_date) and run_date's slice.
-- Someone missing from a slice (no complaint in the window, nothing overdue) counts as low, so a
-- first complaint at low or ageing out from low is no movement; ageing out from medium or high is
-- a move down with in_current_slice false. Empty when the history holds no earlier slice.
with history as (

    select * from {{ ref('fct_complainant_risk_tier_history') }}

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
        coalesce(current_slice.complainant_id, previous_slice.complainant_id) as complainant_id,
        previous_slice.tier as previous_tier,
        previous_slice.total_points as previous_points,
        current_slice.tier as current_tier,
        current_slice.total_points as current_points,
        current_slice.complainant_id is not null as in_current_slice,
        previous_slice.complainant_id is not null as in_previous_slice,
        case coalesce(previous_slice.tier, 'low') when 'high' then 3 when 'medium' then 2 else 1 end as previous_rank,
        case coalesce(current_slice.tier, 'low') when 'high' then 3 when 'medium' then 2 else 1 end as current_rank
    from current_slice
    full outer join previous_slice
        on current_slice.complainant_id = previous_slice.complainant_id

)

select
    {{ run_date_sql() }} as as_of_date,
    previous_date.previous_as_of_date,
    paired.complainant_id,
    paired.previous_tier,
    paired.current_tier,
    paired.previous_points,
    paired.current_points,
    case when paired.current_rank > paired.previous_rank then 'up' else 'down' end as direction,
    paired.in_previous_slice,
    paired.in_current_slice,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from paired
cross join previous_date
where previous_date.previous_as_of_date is not null
  and paired.current_rank <> paired.previous_rank
