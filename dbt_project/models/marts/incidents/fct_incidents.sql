-- One row per registered incident (int_incidents__latest_versions) as of run_date: timeliness
-- against the customer-service emergency plan's targets (seed incident_policy_targets, per
-- severity) and the customer impact in the incident's place and window.
--   hours_to_report    started_at -> reported_at        target report_within_hours
--   hours_to_activate  reported_at -> activated_at      target activate_within_hours
--   hours_to_restore   started_at -> restored_at        target restore_within_hours
--   days_to_review     restoration day -> review day    target review_within_days
--   *_due_date         UTC day of each step's deadline (the KPI counts a step in its deadline's period)
--   *_on_time          true / false once the step happened; false while it has not happened and
--                      its deadline passed before the end of run_date; null while still in time
--   is_review_overdue  restored, no post-event review, run_date after post_review_due_date
--   impact             complaints received in the incident's place (branch_id, the branches of the
--                      region (seed branch_regions), channel, or every complaint for bank_wide) per
--                      day of the window, against the incident_baseline_days before it started; satisfaction of those complaints against the baseline's
--   is_severe          severity in incident_severe_levels: alerted to the emergency leadership at once
--   is_drill           a drill's synthetic incident (DRILL- id, docs/drills.md): handled as any
--                      incident (case, alert to the drill teams), never counted in a KPI or the pack
{%- set end_of_run_date = utc_instant(run_date_sql(), '23:59:59') %}
with incidents as (

    select * from {{ ref('int_incidents__latest_versions') }}

),

targets as (

    select * from {{ ref('incident_policy_targets') }}

),

complaints as (

    select deadlines.received_date, deadlines.branch_id, regions.region, deadlines.channel, deadlines.satisfaction
    from {{ ref('int_complaints__deadlines') }} as deadlines
    left join {{ ref('branch_regions') }} as regions
        on deadlines.branch_id = regions.branch_id
    where deadlines.received_date <= {{ run_date_sql() }}

),

impact as (

    select
        incidents.incident_id,
        sum(case when complaints.received_date >= incidents.window_start_date then 1 else 0 end) as n_complaints_window,
        sum(case when complaints.received_date < incidents.window_start_date then 1 else 0 end) as n_complaints_baseline,
        avg(case when complaints.received_date >= incidents.window_start_date then complaints.satisfaction end) as satisfaction_window,
        avg(case when complaints.received_date < incidents.window_start_date then complaints.satisfaction end) as satisfaction_baseline
    from incidents
    inner join complaints
        on complaints.received_date >= {{ dbt.cast(dbt.dateadd('day', -1 * var('incident_baseline_days'), 'incidents.window_start_date'), 'date') }}
        and complaints.received_date <= incidents.window_end_date
        and (incidents.location_type = 'bank_wide'
             or (incidents.location_type = 'branch' and complaints.branch_id = incidents.location)
             or (incidents.location_type = 'region' and complaints.region = incidents.location)
             or (incidents.location_type = 'channel' and complaints.channel = incidents.location))
    group by incidents.incident_id

),

surges as (

    select linked_incident_id, count(*) as n_linked_surges
    from {{ ref('fct_complaint_surge_incidents') }}
    where is_linked
    group by linked_incident_id

),

timed as (

    select
        incidents.*,
        targets.report_within_hours,
        targets.activate_within_hours,
        targets.restore_within_hours,
        targets.review_within_days,
        {{ dbt.datediff('incidents.started_at', 'incidents.reported_at', 'second') }} as seconds_to_report,
        {{ dbt.datediff('incidents.reported_at', 'incidents.activated_at', 'second') }} as seconds_to_activate,
        {{ dbt.datediff('incidents.started_at', 'incidents.restored_at', 'second') }} as seconds_to_restore,
        {{ dbt.datediff(utc_date('incidents.restored_at'), utc_date('incidents.post_review_at'), 'day') }} as days_to_review,
        {{ dbt.datediff('incidents.reported_at', end_of_run_date, 'second') }} as seconds_since_report,
        {{ dbt.datediff('incidents.started_at', end_of_run_date, 'second') }} as seconds_since_start,
        {{ utc_date(dbt.dateadd('hour', 'targets.report_within_hours', 'incidents.started_at')) }} as report_due_date,
        {{ utc_date(dbt.dateadd('hour', 'targets.activate_within_hours', 'incidents.reported_at')) }} as activate_due_date,
        {{ utc_date(dbt.dateadd('hour', 'targets.restore_within_hours', 'incidents.started_at')) }} as restore_due_date,
        {{ dbt.cast(dbt.dateadd('day', 'targets.review_within_days', utc_date('incidents.restored_at')), 'date') }} as post_review_due_date
    from incidents
    left join targets
        on incidents.severity = targets.severity

)

select
    timed.incident_id,
    timed.kind,
    timed.severity,
    timed.severity in ({% for s in var('incident_severe_levels') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %}) as is_severe,
    timed.location_type,
    timed.location,
    timed.services_affected,
    timed.customers_affected,
    timed.started_at,
    timed.reported_at,
    timed.activated_at,
    timed.restored_at,
    timed.post_review_at,
    timed.effectiveness,
    {{ utc_date('timed.reported_at') }} as reported_date,
    timed.window_start_date,
    timed.window_end_date,
    timed.restored_at is not null as is_restored,
    {{ dbt.cast('timed.seconds_to_report / 3600.0', 'decimal(12,2)') }} as hours_to_report,
    {{ dbt.cast('timed.seconds_to_activate / 3600.0', 'decimal(12,2)') }} as hours_to_activate,
    {{ dbt.cast('timed.seconds_to_restore / 3600.0', 'decimal(12,2)') }} as hours_to_restore,
    {{ dbt.cast('timed.days_to_review', dbt.type_int()) }} as days_to_review,
    timed.report_within_hours,
    timed.activate_within_hours,
    timed.restore_within_hours,
    timed.review_within_days,
    timed.seconds_to_report <= timed.report_within_hours * 3600 as report_on_time,
    case
        when timed.activated_at is not null then timed.seconds_to_activate <= timed.activate_within_hours * 3600
        when timed.seconds_since_report > timed.activate_within_hours * 3600 then false
    end as activate_on_time,
    case
        when timed.restored_at is not null then timed.seconds_to_restore <= timed.restore_within_hours * 3600
        when timed.seconds_since_start > timed.restore_within_hours * 3600 then false
    end as restore_on_time,
    case
        when timed.post_review_at is not null then timed.days_to_review <= timed.review_within_days
        when timed.restored_at is not null and {{ run_date_sql() }} > timed.post_review_due_date then false
    end as review_on_time,
    timed.report_due_date,
    timed.activate_due_date,
    timed.restore_due_date,
    timed.post_review_due_date,
    timed.restored_at is not null and timed.post_review_at is null
        and {{ run_date_sql() }} > timed.post_review_due_date as is_review_overdue,
    {{ dbt.cast(dbt.datediff('timed.window_start_date', 'timed.window_end_date', 'day') ~ ' + 1', dbt.type_int()) }} as window_days,
    {{ dbt.cast('coalesce(impact.n_complaints_window, 0)', dbt.type_int()) }} as n_complaints_window,
    {{ dbt.cast('coalesce(impact.n_complaints_baseline, 0)', dbt.type_int()) }} as n_complaints_baseline,
    {{ dbt.cast(var('incident_baseline_days'), dbt.type_int()) }} as baseline_days,
    case
        when coalesce(impact.n_complaints_baseline, 0) > 0
            then {{ dbt.cast(
                'impact.n_complaints_window * ' ~ var('incident_baseline_days') ~ ' * 1.0 / (impact.n_complaints_baseline * ('
                ~ dbt.datediff('timed.window_start_date', 'timed.window_end_date', 'day') ~ ' + 1))', 'decimal(12,2)') }}
    end as volume_ratio,
    {{ dbt.cast('impact.satisfaction_window', 'decimal(6,2)') }} as satisfaction_window,
    {{ dbt.cast('impact.satisfaction_baseline', 'decimal(6,2)') }} as satisfaction_baseline,
    {{ dbt.cast('coalesce(surges.n_linked_surges, 0)', dbt.type_int()) }} as n_linked_surges,
    {{ dbt.cast(is_drill('timed.incident_id'), dbt.type_boolean()) }} as is_drill,
    {{ run_date_sql() }} as as_of_date,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from timed
left join impact
    on timed.incident_id = impact.incident_id
left join surges
    on timed.incident_id = surges.linked_incident_id
