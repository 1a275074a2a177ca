-- One row per (branch_id, category, received_date) with at least one complaint received that day
-- (UTC date of received_at), on or before run_date, within the days the surge check looks at
-- (surge_report_days) plus the baseline before them. Complaints without a branch are not counted.
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
  and received_date > {{ dbt.cast(dbt.dateadd('day', '-1 * (' ~ var('surge_report_days') ~ ' + ' ~ var('surge_baseline_days') ~ ')', run_date_sql()), 'date') }}
group by branch_id, category, received_date
