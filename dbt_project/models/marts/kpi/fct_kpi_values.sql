-- One row per (kpi, period_type, period_start) of int_kpi__periods: the measured value of each base
-- KPI with its numerator and denominator. Every KPI counts dated events up to the period's
-- cutoff_date only (period_end, or run_date for the current period), grouped by the date on which
-- the outcome became due or happened, so a period that ended on or before run_date keeps its
-- figures when later nights are run:
--   revocation_timeliness   leavers' accounts whose revocation fell due in the period
--                           (fct_leaver_revocations.due_date): share revoked on or before due_date
--   mean_hours_to_revoke    accounts revoked in the period (UTC date of revoked_at): mean
--                           hours_to_revoke, a revocation before the termination day counting 0
--   Both leave out accounts with no revocation time (kpi_exclusion_reason, e.g. already disabled
--   when Vigil first saw them) and say how many they left out and why (n_excluded,
--   excluded_reason; 0 and null for every other KPI).
--   post_termination_logins logins after the termination date (fct_post_termination_logins),
--                           dated by the later of login_date and first_reported_on
--   handover_completion     departed RMs' clients whose handover fell due in the period: share
--                           handed over on or before handover_due_date
--   asset_return            leavers' assets due back in the period: share returned by due_date
--   rm_departure_churn      departed RMs' clients whose churn window (churn_window_days) ended in
--                           the period: share that closed within it
--   complaint_*             fct_complaint_handling_periods (deadline, resolved and received cohorts)
--   key complainants and incidents  fct_complainant_incident_kpi_counts (its own header says how)
with periods as (

    select * from {{ ref('int_kpi__periods') }}

),

revocations as (

    select
        due_date,
        {{ utc_date('revoked_at') }} as revoked_date,
        case when hours_to_revoke < 0 then 0 else hours_to_revoke end as hours_to_revoke
    from {{ ref('fct_leaver_revocations') }}
    where kpi_exclusion_reason is null

),

revocation_exclusions as (

    -- accounts with no revocation time (fct_leaver_revocations.kpi_exclusion_reason), counted
    -- where they would otherwise have counted: timeliness by due_date, time to revoke by the
    -- night Vigil first saw them no longer enabled (revoked_on)
    select
        'revocation_timeliness' as kpi,
        periods.period_type,
        periods.period_start,
        count(excluded.due_date) as n_excluded
    from periods
    inner join {{ ref('fct_leaver_revocations') }} as excluded
        on excluded.kpi_exclusion_reason is not null
        and excluded.due_date >= periods.period_start
        and excluded.due_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

    union all

    select
        'mean_hours_to_revoke' as kpi,
        periods.period_type,
        periods.period_start,
        count(excluded.revoked_on) as n_excluded
    from periods
    inner join {{ ref('fct_leaver_revocations') }} as excluded
        on excluded.kpi_exclusion_reason is not null
        and excluded.revoked_on >= periods.period_start
        and excluded.revoked_on <= periods.cutoff_date
    group by periods.period_type, periods.period_start

),

handovers as (

    select handover_due_date, handed_over_on
    from {{ ref('fct_client_handovers') }}

),

assets as (

    select due_date, returned_date
    from {{ ref('fct_unreturned_assets') }}

),

churn as (

    select churn_window_end_date, churned
    from {{ ref('fct_rm_departure_churn') }}

),

logins as (

    -- dated by the later of the login and the night it was first reported: a login reported late
    -- counts in the period in which it became known, never in a period already closed
    select
        case when first_reported_on > login_date then first_reported_on else login_date end as counted_on
    from {{ ref('fct_post_termination_logins') }}

),

complaints as (

    select * from {{ ref('fct_complaint_handling_periods') }}

),

revocation_timeliness as (

    select
        'revocation_timeliness' as kpi,
        periods.period_type,
        periods.period_start,
        sum(case when revocations.revoked_date <= revocations.due_date then 1 else 0 end) as numerator,
        count(revocations.due_date) as denominator
    from periods
    left join revocations
        on revocations.due_date >= periods.period_start
        and revocations.due_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

),

time_to_revoke as (

    select
        'mean_hours_to_revoke' as kpi,
        periods.period_type,
        periods.period_start,
        sum(revocations.hours_to_revoke) as numerator,
        count(revocations.hours_to_revoke) as denominator
    from periods
    left join revocations
        on revocations.revoked_date >= periods.period_start
        and revocations.revoked_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

),

post_termination_logins as (

    select
        'post_termination_logins' as kpi,
        periods.period_type,
        periods.period_start,
        count(logins.counted_on) as numerator,
        {{ dbt.cast('null', dbt.type_int()) }} as denominator
    from periods
    left join logins
        on logins.counted_on >= periods.period_start
        and logins.counted_on <= periods.cutoff_date
    group by periods.period_type, periods.period_start

),

handover_completion as (

    select
        'handover_completion' as kpi,
        periods.period_type,
        periods.period_start,
        sum(case when handovers.handed_over_on <= handovers.handover_due_date then 1 else 0 end) as numerator,
        count(handovers.handover_due_date) as denominator
    from periods
    left join handovers
        on handovers.handover_due_date >= periods.period_start
        and handovers.handover_due_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

),

asset_return as (

    select
        'asset_return' as kpi,
        periods.period_type,
        periods.period_start,
        sum(case when assets.returned_date <= assets.due_date then 1 else 0 end) as numerator,
        count(assets.due_date) as denominator
    from periods
    left join assets
        on assets.due_date >= periods.period_start
        and assets.due_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

),

rm_departure_churn as (

    select
        'rm_departure_churn' as kpi,
        periods.period_type,
        periods.period_start,
        sum(case when churn.churned then 1 else 0 end) as numerator,
        count(churn.churn_window_end_date) as denominator
    from periods
    left join churn
        on churn.churn_window_end_date >= periods.period_start
        and churn.churn_window_end_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

),

complaint_values as (

    {% set complaint_kpis = [
        ('complaint_resolution_rate', 'n_due_resolved', 'n_due'),
        ('complaint_deadline_breach_rate', 'n_due_breached', 'n_due'),
        ('cross_department_follow_through', 'n_due_naming_employee_on_time', 'n_due_naming_employee'),
        ('complaints_per_1000_clients', 'n_received', 'n_active_clients'),
        ('complaint_satisfaction', 'sum_satisfaction', 'n_with_satisfaction'),
        ('complaint_median_days_to_resolve', 'null', 'n_resolved'),
    ] %}
    {%- for kpi, numerator, denominator in complaint_kpis %}
    select
        '{{ kpi }}' as kpi,
        period_type,
        period_start,
        {{ numerator }} as numerator,
        {{ denominator }} as denominator
    from complaints
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

counts as (

    select * from revocation_timeliness
    union all select * from time_to_revoke
    union all select * from post_termination_logins
    union all select * from handover_completion
    union all select * from asset_return
    union all select * from rm_departure_churn
    union all select * from complaint_values
    union all select kpi, period_type, period_start, numerator, denominator from {{ ref('fct_complainant_incident_kpi_counts') }}

)

select
    counts.kpi,
    counts.period_type,
    counts.period_start,
    periods.period_end,
    periods.period_label,
    periods.periods_back,
    periods.cutoff_date,
    periods.is_complete,
    periods.is_reported,
    {{ dbt.cast('counts.numerator', 'decimal(18,4)') }} as numerator,
    {{ dbt.cast('counts.denominator', dbt.type_int()) }} as denominator,
    {{ dbt.cast(
        "case"
        ~ " when counts.kpi in ('post_termination_logins', 'reputational_escalations') then counts.numerator"
        ~ " when counts.kpi = 'complaint_median_days_to_resolve' then complaints.median_days_to_resolve"
        ~ " when counts.kpi = 'complaints_per_1000_clients' and counts.denominator > 0 then counts.numerator * 1000.0 / counts.denominator"
        ~ " when counts.denominator > 0 then counts.numerator * 1.0 / counts.denominator"
        ~ " end", 'decimal(18,4)') }} as value,
    {{ dbt.cast('coalesce(revocation_exclusions.n_excluded, 0)', dbt.type_int()) }} as n_excluded,
    case
        when revocation_exclusions.n_excluded > 0
            then 'disabled_when_first_seen: already disabled when Vigil first saw them, no disabled_at; revocation time unknown'
    end as excluded_reason,
    periods.as_of_date
from counts
inner join periods
    on counts.period_type = periods.period_type
    and counts.period_start = periods.period_start
left join complaints
    on counts.period_type = complaints.period_type
    and counts.period_start = complaints.period_start
left join revocation_exclusions
    on counts.kpi = revocation_exclusions.kpi
    and counts.period_type = revocation_exclusions.period_type
    and counts.period_start = revocation_exclusions.period_start
