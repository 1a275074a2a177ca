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
--   incident_timeliness              incident steps (report, activation, restoration, post-event
--                                    review) whose deadline falls in the period, settled (done, or
--                                    past the deadline): share done within it; a drill's
--                                    incident (is_drill, docs/drills.md) never counts
-- A complaint's tier is its person's tier on the night of the event counted (the deadline, the
-- resolution): the slice of fct_complainant_person_tier_history in force that day (the first slice
-- for days before Vigil's first night); a person absent from the slice is low. History slices never
-- change and contact dues are kept as they settle, so a complete period keeps its figures.
{%- set tiers = ['high', 'medium', 'low'] %}
with periods as (

    select * from {{ ref('int_kpi__periods') }}

),

dues as (

    select tier, due_date, is_on_time from {{ ref('fct_complainant_contact_dues') }}

),

history as (

    select as_of_date, person_key, tier
    from {{ ref('fct_complainant_person_tier_history') }}
    where as_of_date <= {{ run_date_sql() }}

),

slice_dates as (

    select distinct as_of_date from history

),

slices as (

    -- each slice is in force from its night to the next; the first also covers the days before it
    select
        as_of_date,
        case when as_of_date > (select min(as_of_date) from slice_dates) then as_of_date end as valid_from,
        lead(as_of_date) over (order by as_of_date) as valid_to
    from slice_dates

),

complaint_rows as (

    select
        deadlines.complaint_id,
        deadlines.deadline_date,
        deadlines.resolved_date,
        deadlines.received_date,
        deadlines.is_breached,
        deadlines.is_externally_escalated,
        deadlines.satisfaction,
        coalesce(ids.person_key, deadlines.complainant_id) as person_key
    from {{ ref('fct_complaint_deadlines') }} as deadlines
    left join {{ ref('int_complainants__persons') }} as ids
        on deadlines.complainant_id = ids.complainant_id

),

{%- for event in ['deadline', 'resolved'] %}

{{ event }}_tiers as (

    select complaint_rows.complaint_id, coalesce(history.tier, 'low') as tier
    from complaint_rows
    left join slices
        on (slices.valid_from is null or complaint_rows.{{ event }}_date >= slices.valid_from)
        and (slices.valid_to is null or complaint_rows.{{ event }}_date < slices.valid_to)
    left join history
        on history.as_of_date = slices.as_of_date
        and history.person_key = complaint_rows.person_key
    where complaint_rows.{{ event }}_date is not null

),
{%- endfor %}

complaints as (

    select
        complaint_rows.*,
        deadline_tiers.tier as deadline_tier,
        resolved_tiers.tier as resolved_tier
    from complaint_rows
    left join deadline_tiers
        on complaint_rows.complaint_id = deadline_tiers.complaint_id
    left join resolved_tiers
        on complaint_rows.complaint_id = resolved_tiers.complaint_id

),

incident_steps as (

    {%- for step, due in [('report', 'report_due_date'), ('activate', 'activate_due_date'),
                          ('restore', 'restore_due_date'), ('review', 'post_review_due_date')] %}
    select {{ due }} as due_date, {{ step }}_on_time as on_time from {{ ref('fct_incidents') }} where not is_drill
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

counts as (

    {%- for tier in tiers if tier in var('complainant_handling_tiers') %}
    {% call per_period('dues', 'due_date', where="dues.tier = '" ~ tier ~ "'") -%}
        'contact_cadence_kept_{{ tier }}' as kpi,
        sum(case when dues.is_on_time then 1 else 0 end) as numerator,
        count(dues.due_date) as denominator
    {%- endcall %}

    union all
    {%- endfor %}

    {%- for tier in tiers %}
    {% call per_period('complaints', 'deadline_date', where="complaints.deadline_tier = '" ~ tier ~ "'") -%}
        'complainant_resolution_rate_{{ tier }}',
        sum(case when complaints.resolved_date is not null and complaints.resolved_date <= periods.cutoff_date
                  and not complaints.is_breached then 1 else 0 end),
        count(complaints.deadline_date)
    {%- endcall %}

    union all

    {% call per_period('complaints', 'resolved_date', where="complaints.resolved_tier = '" ~ tier ~ "'") -%}
        'complainant_satisfaction_{{ tier }}',
        sum(complaints.satisfaction),
        count(complaints.satisfaction)
    {%- endcall %}

    union all
    {%- endfor %}

    {% call per_period('complaints', 'received_date', where='complaints.is_externally_escalated') -%}
        'reputational_escalations',
        count(complaints.received_date),
        null
    {%- endcall %}

    union all

    {% call per_period('incident_steps', 'due_date') -%}
        'incident_timeliness',
        sum(case when incident_steps.on_time then 1 else 0 end),
        count(incident_steps.on_time)
    {%- endcall %}

)

select
    {{ dbt.cast('kpi', dbt.type_string()) }} as kpi,
    period_type,
    period_start,
    {{ dbt.cast('coalesce(numerator, 0)', 'decimal(18,4)') }} as numerator,
    {{ dbt.cast('denominator', dbt.type_int()) }} as denominator
from counts
