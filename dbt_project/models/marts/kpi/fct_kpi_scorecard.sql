-- One row per (kpi, period_type, period_start) for the reported months, quarters and years: the KPI
-- scorecard. Base KPIs come from fct_kpi_values; two quarterly KPIs compare a quarter with the one
-- before it, as a relative change (current - previous) / previous:
--   mean_hours_to_revoke_change     target -30% (kpi_targets)
--   post_termination_logins_change  target -20%; when the previous quarter had none, the change
--                                   is undefined (value null): green if there are still none, red otherwise
-- and two compare every month, quarter and year with the fixed response-time baseline period
-- (vars response_baseline_start / _end: fct_kpi_values' period_type 'baseline'), seed 000's
-- "response time down 30%": value = (period mean / baseline mean) - 1, numerator = period mean -
-- baseline mean, denominator = previous_value = the baseline mean; no baseline configured (or a
-- baseline mean of 0 or none) gives no value, never a made-up one:
--   mean_hours_to_revoke_vs_baseline           leavers' accounts: hours to revoke
--   time_to_verified_closure_days_vs_baseline  response cases: days to verified closure
-- Status (RAG) against the seed kpi_targets for (kpi, period_type):
--   direction higher: green when value >= target, amber when value >= target - amber_band, else red
--   direction lower:  green when value <= target, amber when value <= target + amber_band, else red
--   no_target when the seed gives no target, no_data when there is nothing to measure (value null)
-- n_excluded / excluded_reason: how many accounts a revocation KPI left out and why (fct_kpi_values);
-- a change KPI carries its quarter's.
with kpi_values as (

    select * from {{ ref('fct_kpi_values') }}

),

targets as (

    select * from {{ ref('kpi_targets') }}

),

with_previous as (

    select
        kpi_values.*,
        previous.value as previous_value
    from kpi_values
    left join kpi_values as previous
        on kpi_values.kpi = previous.kpi
        and kpi_values.period_type = previous.period_type
        and kpi_values.periods_back + 1 = previous.periods_back

),

changes as (

    select
        {{ dbt.concat(['kpi', "'_change'"]) }} as kpi,
        period_type,
        period_start,
        period_end,
        period_label,
        periods_back,
        cutoff_date,
        is_complete,
        is_reported,
        value - previous_value as numerator,
        previous_value as denominator_value,
        case when previous_value <> 0 then (value - previous_value) / previous_value end as value,
        previous_value,
        case
            when kpi = 'post_termination_logins' and previous_value = 0 and value = 0 then 'green'
            when kpi = 'post_termination_logins' and previous_value = 0 and value > 0 then 'red'
        end as status_override,
        n_excluded,
        excluded_reason,
        as_of_date
    from with_previous
    where period_type = 'quarter'
      and kpi in ('mean_hours_to_revoke', 'post_termination_logins')

),

baseline as (

    select kpi, value as baseline_value
    from kpi_values
    where period_type = 'baseline'

),

vs_baseline as (

    select
        {{ dbt.concat(['kpi_values.kpi', "'_vs_baseline'"]) }} as kpi,
        kpi_values.period_type,
        kpi_values.period_start,
        kpi_values.period_end,
        kpi_values.period_label,
        kpi_values.periods_back,
        kpi_values.cutoff_date,
        kpi_values.is_complete,
        kpi_values.is_reported,
        kpi_values.value - baseline.baseline_value as numerator,
        baseline.baseline_value as denominator_value,
        case when baseline.baseline_value <> 0 then kpi_values.value / baseline.baseline_value - 1 end as value,
        baseline.baseline_value as previous_value,
        {{ dbt.cast('null', dbt.type_string()) }} as status_override,
        kpi_values.n_excluded,
        kpi_values.excluded_reason,
        kpi_values.as_of_date
    from kpi_values
    left join baseline
        on kpi_values.kpi = baseline.kpi
    where kpi_values.period_type in ('month', 'quarter', 'year')
      and kpi_values.kpi in ('mean_hours_to_revoke', 'time_to_verified_closure_days')

),

base as (

    select
        kpi,
        period_type,
        period_start,
        period_end,
        period_label,
        periods_back,
        cutoff_date,
        is_complete,
        is_reported,
        numerator,
        {{ dbt.cast('denominator', 'decimal(18,4)') }} as denominator_value,
        value,
        previous_value,
        {{ dbt.cast('null', dbt.type_string()) }} as status_override,
        n_excluded,
        excluded_reason,
        as_of_date
    from with_previous

),

unioned as (

    select * from base
    union all
    select * from changes
    union all
    select * from vs_baseline

),

scored as (

    select
        unioned.*,
        targets.target,
        targets.direction,
        targets.amber_band,
        targets.unit,
        case
            when unioned.status_override is not null then unioned.status_override
            when unioned.value is null then 'no_data'
            when targets.target is null then 'no_target'
            when targets.direction = 'higher' and unioned.value >= targets.target then 'green'
            when targets.direction = 'higher' and unioned.value >= targets.target - coalesce(targets.amber_band, 0) then 'amber'
            when targets.direction = 'lower' and unioned.value <= targets.target then 'green'
            when targets.direction = 'lower' and unioned.value <= targets.target + coalesce(targets.amber_band, 0) then 'amber'
            else 'red'
        end as status
    from unioned
    left join targets
        on unioned.kpi = targets.kpi
        and unioned.period_type = targets.period_type

)

select
    kpi,
    period_type,
    period_start,
    period_end,
    period_label,
    cutoff_date,
    is_complete,
    {{ dbt.cast('value', 'decimal(18,4)') }} as value,
    {{ dbt.cast('numerator', 'decimal(18,4)') }} as numerator,
    {{ dbt.cast('denominator_value', 'decimal(18,4)') }} as denominator,
    {{ dbt.cast('previous_value', 'decimal(18,4)') }} as previous_value,
    target,
    direction,
    amber_band,
    unit,
    status,
    n_excluded,
    excluded_reason,
    as_of_date,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from scored
where is_reported
