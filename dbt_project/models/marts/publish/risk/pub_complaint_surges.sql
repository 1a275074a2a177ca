-- Published (contract enforced): complaint surge incidents (rule CH-02). One row per
-- (branch_id, category, surge_date) in the last surge_report_days where the day's complaints were
-- at least surge_min_complaints and at least surge_multiplier x each trailing level of
-- fct_complaint_surge_checks (the mean per day of the surge_baseline_days before, of the
-- surge_recent_days before, and of the same weekday in the surge_weekday_weeks before). alert_key ('CH-02:<branch_id>:<category>:<surge_date>') is stable
-- across nights; is_new: the surge day is run_date itself (a surge found later because complaints
-- arrived late keeps its day: alert on keys not seen before).
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
select
    cast({{ dbt.concat(["'CH-02:'", 'branch_id', "':'", 'category', "':'", dbt.cast('received_date', t)]) }} as {{ t }}) as alert_key,
    cast(branch_id as {{ t }}) as branch_id,
    cast(category as {{ t }}) as category,
    cast(received_date as date) as surge_date,
    cast(n_complaints as {{ i }}) as n_complaints,
    cast(baseline_total as {{ i }}) as baseline_total,
    cast(baseline_days as {{ i }}) as baseline_days,
    cast(baseline_daily_mean as decimal(12,4)) as baseline_daily_mean,
    cast(baseline_ratio as decimal(12,2)) as baseline_ratio,
    cast(received_date = as_of_date as {{ dbt.type_boolean() }}) as is_new,
    cast('CH-02' as {{ t }}) as rule_id,
    cast(policy_version as {{ t }}) as policy_version,
    cast(as_of_date as date) as as_of_date
from {{ ref('fct_complaint_surge_checks') }}
where is_surge
