-- One row per (branch_id, category, received_date) with complaints in the last surge_report_days
-- ending on run_date: the day's count against the trailing baseline, the mean complaints per day
-- over the surge_baseline_days (28) days before that day (days without complaints count as 0).
-- A day is a surge incident when
--     n_complaints >= surge_min_complaints (5)  and  n_complaints >= surge_multiplier (3) x baseline mean.
-- The comparison is done in integers (n * 28 >= 3 * baseline total), so 3x is exact. A zero baseline
-- (nothing in the 28 days before) satisfies the multiplier test, so the minimum count alone decides;
-- baseline_ratio is then null.
with daily as (

    select * from {{ ref('int_complaints__daily_counts') }}

),

checked_days as (

    select *
    from daily
    where received_date > {{ dbt.cast(dbt.dateadd('day', -1 * var('surge_report_days'), run_date_sql()), 'date') }}

),

baselines as (

    select
        checked_days.branch_id,
        checked_days.category,
        checked_days.received_date,
        checked_days.n_complaints,
        coalesce(sum(before.n_complaints), 0) as baseline_total
    from checked_days
    left join daily as before
        on before.branch_id = checked_days.branch_id
        and before.category = checked_days.category
        and before.received_date < checked_days.received_date
        and before.received_date >= {{ dbt.cast(dbt.dateadd('day', -1 * var('surge_baseline_days'), 'checked_days.received_date'), 'date') }}
    group by checked_days.branch_id, checked_days.category, checked_days.received_date, checked_days.n_complaints

)

select
    branch_id,
    category,
    received_date,
    n_complaints,
    {{ dbt.cast('baseline_total', dbt.type_int()) }} as baseline_total,
    {{ dbt.cast(var('surge_baseline_days'), dbt.type_int()) }} as baseline_days,
    {{ dbt.cast('baseline_total * 1.0 / ' ~ var('surge_baseline_days'), 'decimal(12,4)') }} as baseline_daily_mean,
    case
        when baseline_total > 0
            then {{ dbt.cast('n_complaints * ' ~ var('surge_baseline_days') ~ ' * 1.0 / baseline_total', 'decimal(12,2)') }}
    end as baseline_ratio,
    n_complaints >= {{ var('surge_min_complaints') }}
        and n_complaints * {{ var('surge_baseline_days') }} >= {{ var('surge_multiplier') }} * baseline_total
        as is_surge,
    {{ run_date_sql() }} as as_of_date,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from baselines
