-- One row per (kpi, period_type, period_start) of int_kpi__periods for the key-complainant and
-- incident KPIs: numerator and denominator, counted up to the period's cutoff_date (the shape
-- fct_kpi_values unions in; the scorecard computes value and status from them).
--   contact_cadence_kept_<tier>      due contacts of the tier's handling plans due in the period
--                                    (fct_complainant_contact_dues): share made on or before the due day
--   complainant_resolution_rate_<tier>  complaints of the deadline cohort (deadline in the period)
--                                    of the tier's persons: share resolved on or before their deadline
--   complainant_satisfaction_<tier>  satisfaction (1-5) of the tier's complaints resolved in the period
--   reputational_escalations         complaints received in the period that went to a regulator or the
--                                    media (a count; target per period in kpi_targets)
--   incident_timeliness              steps (report, activation, restoration, post-event review) of
--                                    incidents reported in the period that are settled: share on time
-- A complaint's tier is its person's tier on run_date (fct_complainant_persons); people outside the
-- tiering population count as low.
{%- set tiers = ['high', 'medium', 'low'] %}
with periods as (

    select * from {{ ref('int_kpi__periods') }}

),

dues as (

    select tier, due_date, is_on_time from {{ ref('fct_complainant_contact_dues') }}

),

complaints as (

    select
        deadlines.deadline_date,
        deadlines.resolved_date,
        deadlines.received_date,
        deadlines.is_breached,
        deadlines.is_externally_escalated,
        deadlines.satisfaction,
        coalesce(persons.tier, 'low') as tier
    from {{ ref('fct_complaint_deadlines') }} as deadlines
    left join {{ ref('int_complainants__persons') }} as ids
        on deadlines.complainant_id = ids.complainant_id
    left join {{ ref('fct_complainant_persons') }} as persons
        on ids.person_key = persons.person_key

),

incident_steps as (

    {%- for step in ['report', 'activate', 'restore', 'review'] %}
    select reported_date, {{ step }}_on_time as on_time from {{ ref('fct_incidents') }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

counts as (

    {%- for tier in tiers if tier in var('complainant_handling_tiers') %}
    select
        'contact_cadence_kept_{{ tier }}' as kpi, periods.period_type, periods.period_start,
        sum(case when dues.is_on_time then 1 else 0 end) as numerator,
        count(dues.due_date) as denominator
    from periods
    left join dues
        on dues.tier = '{{ tier }}'
        and dues.due_date >= periods.period_start
        and dues.due_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

    union all
    {%- endfor %}

    {%- for tier in tiers %}
    select
        'complainant_resolution_rate_{{ tier }}', periods.period_type, periods.period_start,
        sum(case when complaints.resolved_date is not null and complaints.resolved_date <= periods.cutoff_date
                  and not complaints.is_breached then 1 else 0 end),
        count(complaints.deadline_date)
    from periods
    left join complaints
        on complaints.tier = '{{ tier }}'
        and complaints.deadline_date >= periods.period_start
        and complaints.deadline_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

    union all

    select
        'complainant_satisfaction_{{ tier }}', periods.period_type, periods.period_start,
        sum(complaints.satisfaction),
        count(complaints.satisfaction)
    from periods
    left join complaints
        on complaints.tier = '{{ tier }}'
        and complaints.resolved_date >= periods.period_start
        and complaints.resolved_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

    union all
    {%- endfor %}

    select
        'reputational_escalations', periods.period_type, periods.period_start,
        count(complaints.received_date),
        null
    from periods
    left join complaints
        on complaints.is_externally_escalated
        and complaints.received_date >= periods.period_start
        and complaints.received_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

    union all

    select
        'incident_timeliness', periods.period_type, periods.period_start,
        sum(case when incident_steps.on_time then 1 else 0 end),
        count(incident_steps.on_time)
    from periods
    left join incident_steps
        on incident_steps.reported_date >= periods.period_start
        and incident_steps.reported_date <= periods.cutoff_date
    group by periods.period_type, periods.period_start

)

select
    {{ dbt.cast('kpi', dbt.type_string()) }} as kpi,
    period_type,
    period_start,
    {{ dbt.cast('coalesce(numerator, 0)', 'decimal(18,4)') }} as numerator,
    {{ dbt.cast('denominator', dbt.type_int()) }} as denominator
from counts
