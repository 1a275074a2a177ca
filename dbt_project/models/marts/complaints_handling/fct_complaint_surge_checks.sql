-- One row per (branch_id, category, received_date) with complaints in the last surge_report_days
-- ending on run_date: the day's count against three trailing levels (days without complaints
-- count as 0; the day itself never counts):
--   baseline: the mean per day of the surge_baseline_days (28) days before the day;
--   recent:   the mean per day of the surge_recent_days (7) days before it;
--   weekday:  the mean of the same weekday in the surge_weekday_weeks (4) weeks before it.
-- A day is a surge incident when
--     n_complaints >= surge_min_complaints (5)
--     and n_complaints >= surge_multiplier (3) x each of the three means.
-- The recent and weekday levels make the baseline robust to trend and to the week's rhythm: on a
-- growing volume the 28-day mean lags (it averages the lower weeks before), while the last 7 days
-- show the current level; a Monday is compared with Mondays. A surge must stand out against all.
-- The comparisons are done in integers (n * 28 >= 3 * baseline total), so 3x is exact. A zero
-- baseline satisfies its multiplier test, so a day after 28 empty days is decided by the minimum
-- count alone; baseline_ratio / recent_ratio are then null.
{%- set lookback_days = [var('surge_baseline_days'), var('surge_recent_days'), 7 * var('surge_weekday_weeks')] | max %}
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
        coalesce(sum(case
            when before.received_date >= {{ dbt.cast(dbt.dateadd('day', -1 * var('surge_baseline_days'), 'checked_days.received_date'), 'date') }}
                then before.n_complaints
        end), 0) as baseline_total,
        coalesce(sum(case
            when before.received_date >= {{ dbt.cast(dbt.dateadd('day', -1 * var('surge_recent_days'), 'checked_days.received_date'), 'date') }}
                then before.n_complaints
        end), 0) as recent_total,
        coalesce(sum(case
            when before.received_date >= {{ dbt.cast(dbt.dateadd('day', -7 * var('surge_weekday_weeks'), 'checked_days.received_date'), 'date') }}
                and mod({{ dbt.datediff('before.received_date', 'checked_days.received_date', 'day') }}, 7) = 0
                then before.n_complaints
        end), 0) as weekday_total
    from checked_days
    left join daily as before
        on before.branch_id = checked_days.branch_id
        and before.category = checked_days.category
        and before.received_date < checked_days.received_date
        and before.received_date >= {{ dbt.cast(dbt.dateadd('day', -1 * lookback_days, 'checked_days.received_date'), 'date') }}
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
    {{ dbt.cast('recent_total', dbt.type_int()) }} as recent_total,
    {{ dbt.cast(var('surge_recent_days'), dbt.type_int()) }} as recent_days,
    case
        when recent_total > 0
            then {{ dbt.cast('n_complaints * ' ~ var('surge_recent_days') ~ ' * 1.0 / recent_total', 'decimal(12,2)') }}
    end as recent_ratio,
    {{ dbt.cast('weekday_total', dbt.type_int()) }} as weekday_total,
    {{ dbt.cast(var('surge_weekday_weeks'), dbt.type_int()) }} as weekday_weeks,
    n_complaints >= {{ var('surge_min_complaints') }}
        and n_complaints * {{ var('surge_baseline_days') }} >= {{ var('surge_multiplier') }} * baseline_total
        and n_complaints * {{ var('surge_recent_days') }} >= {{ var('surge_multiplier') }} * recent_total
        and n_complaints * {{ var('surge_weekday_weeks') }} >= {{ var('surge_multiplier') }} * weekday_total
        as is_surge,
    {{ run_date_sql() }} as as_of_date,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from baselines
