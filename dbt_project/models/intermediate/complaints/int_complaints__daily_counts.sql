-- One row per (branch_id, category, received_date) with at least one complaint received that day
-- (UTC date of received_at), on or before run_date, within the days the surge check looks at
-- (surge_report_days) plus the longest baseline before them (surge_baseline_days, surge_recent_days,
-- 7 x surge_weekday_weeks). Complaints without a branch are not counted.
{%- set lookback_days = [var('surge_baseline_days'), var('surge_recent_days'), 7 * var('surge_weekday_weeks')] | max %}
with complaints as (

    select * from {{ ref('int_complaints__deadlines') }}

)

select
    branch_id,
    category,
    received_date,
    {{ dbt.cast('count(*)', dbt.type_int()) }} as n_complaints
from complaints
where branch_id is not null
  and received_date <= {{ run_date_sql() }}
  and received_date > {{ dbt.cast(dbt.dateadd('day', '-1 * (' ~ var('surge_report_days') ~ ' + ' ~ lookback_days ~ ')', run_date_sql()), 'date') }}
group by branch_id, category, received_date
