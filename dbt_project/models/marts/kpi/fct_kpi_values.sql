-- One row per (kpi, period_type, period_start) of int_kpi__periods (months, quarters, years, and the
-- response-time baseline period when one is configured): the measured value of each base
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
--   cross_department_completion  response cases and leaver items owned by another team than the one
--                           that detected them, due in the period: share verified closed by their due
--                           date (fct_response_kpis, all kinds, teams and departments; docs/cases.md)
--   time_to_verified_closure_days  response cases verified closed in the period: mean days from the
--                           episode's start to closure (fct_response_kpis, all kinds, teams, departments)
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
        and not {{ is_drill('employee_id') }}  -- a drill's leaver never counts (docs/drills.md)

),

excluded as (

    select due_date, revoked_on
    from {{ ref('fct_leaver_revocations') }}
    where kpi_exclusion_reason is not null
        and not {{ is_drill('employee_id') }}

),

revocation_exclusions as (

    -- accounts with no revocation time (fct_leaver_revocations.kpi_exclusion_reason), counted
    -- where they would otherwise have counted: timeliness by due_date, time to revoke by the
    -- night Vigil first saw them no longer enabled (revoked_on); a period with none counts 0
    {% call per_period('excluded', 'due_date') -%}
        'revocation_timeliness' as kpi,
        count(excluded.due_date) as n_excluded
    {%- endcall %}

    union all

    {% call per_period('excluded', 'revoked_on') -%}
        'mean_hours_to_revoke' as kpi,
        count(excluded.revoked_on) as n_excluded
    {%- endcall %}

),

handovers as (

    select handover_due_date, handed_over_on
    from {{ ref('fct_client_handovers') }}

),

assets as (

    select due_date, returned_date
    from {{ ref('fct_unreturned_assets') }}
    where not {{ is_drill('employee_id') }}

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
    where not {{ is_drill('employee_id') }}

),

complaints as (

    select * from {{ ref('fct_complaint_handling_periods') }}

),

revocation_timeliness as (

    {% call per_period('revocations', 'due_date') -%}
        'revocation_timeliness' as kpi,
        sum(case when revocations.revoked_date <= revocations.due_date then 1 else 0 end) as numerator,
        count(revocations.due_date) as denominator
    {%- endcall %}

),

time_to_revoke as (

    {% call per_period('revocations', 'revoked_date') -%}
        'mean_hours_to_revoke' as kpi,
        sum(revocations.hours_to_revoke) as numerator,
        count(revocations.hours_to_revoke) as denominator
    {%- endcall %}

),

post_termination_logins as (

    {% call per_period('logins', 'counted_on') -%}
        'post_termination_logins' as kpi,
        count(logins.counted_on) as numerator,
        {{ dbt.cast('null', dbt.type_int()) }} as denominator
    {%- endcall %}

),

handover_completion as (

    {% call per_period('handovers', 'handover_due_date') -%}
        'handover_completion' as kpi,
        sum(case when handovers.handed_over_on <= handovers.handover_due_date then 1 else 0 end) as numerator,
        count(handovers.handover_due_date) as denominator
    {%- endcall %}

),

asset_return as (

    {% call per_period('assets', 'due_date') -%}
        'asset_return' as kpi,
        sum(case when assets.returned_date <= assets.due_date then 1 else 0 end) as numerator,
        count(assets.due_date) as denominator
    {%- endcall %}

),

rm_departure_churn as (

    {% call per_period('churn', 'churn_window_end_date') -%}
        'rm_departure_churn' as kpi,
        sum(case when churn.churned then 1 else 0 end) as numerator,
        count(churn.churn_window_end_date) as denominator
    {%- endcall %}

),

complaint_values as (

    {% set complaint_kpis = [
        ('complaint_resolution_rate', 'n_due_resolved', 'n_due'),
        ('complaint_deadline_breach_rate', 'n_due_breached', 'n_due'),
        ('complaints_per_1000_clients', 'n_received', 'n_active_clients'),
        ('complaint_satisfaction', 'sum_satisfaction', 'n_with_satisfaction'),
        ('complaint_median_days_to_resolve', 'null', 'n_resolved'),
    ] %}
    {%- for kpi, numerator, denominator in complaint_kpis %}
    select
        period_type,
        period_start,
        '{{ kpi }}' as kpi,
        {{ numerator }} as numerator,
        {{ denominator }} as denominator
    from complaints
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

response_values as (

    -- every period, with 0 of 0 when nothing fell due or closed (no response row)
    {%- for kpi in ['cross_department_completion', 'time_to_verified_closure_days'] %}
    select
        periods.period_type,
        periods.period_start,
        '{{ kpi }}' as kpi,
        coalesce(response.numerator, 0) as numerator,
        coalesce(response.denominator, 0) as denominator
    from periods
    left join {{ ref('fct_response_kpis') }} as response
        on response.period_type = periods.period_type
        and response.period_start = periods.period_start
        and response.kpi = '{{ kpi }}'
        and response.kind = '*' and response.owner_team = '*' and response.department = '*'
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

-- union all matches columns by position: every branch is period_type, period_start, kpi, numerator, denominator
counts as (

    select * from revocation_timeliness
    union all select * from time_to_revoke
    union all select * from post_termination_logins
    union all select * from handover_completion
    union all select * from asset_return
    union all select * from rm_departure_churn
    union all select * from complaint_values
    union all select * from response_values
    union all select period_type, period_start, kpi, numerator, denominator from {{ ref('fct_complainant_incident_kpi_counts') }}

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
