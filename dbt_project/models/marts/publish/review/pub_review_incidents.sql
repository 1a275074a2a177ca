-- Published (contract enforced): the incident register's timeliness and customer impact (IN-01)
-- as it stood at the end of each quarter, for the review pack's "Incidents" (docs/review-pack.md).
-- One row per (snapshot_date, incident_id), snapshot_date = run_date; same retention as
-- pub_review_findings. No PII: incident ids, places, times, counts.
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
{%- set b = dbt.type_boolean() %}
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

select
    {{ run_date_sql() }} as snapshot_date,
    {{ dbt.cast('incident_id', t) }} as incident_id,
    {{ dbt.cast('kind', t) }} as kind,
    {{ dbt.cast('severity', t) }} as severity,
    {{ dbt.cast('location_type', t) }} as location_type,
    {{ dbt.cast('location', t) }} as location,
    {{ dbt.cast('reported_date', 'date') }} as reported_date,
    {{ dbt.cast('hours_to_report', 'decimal(12,2)') }} as hours_to_report,
    {{ dbt.cast('hours_to_activate', 'decimal(12,2)') }} as hours_to_activate,
    {{ dbt.cast('hours_to_restore', 'decimal(12,2)') }} as hours_to_restore,
    {{ dbt.cast('days_to_review', i) }} as days_to_review,
    {{ dbt.cast('post_review_at', type_timestamptz()) }} as post_review_at,
    {{ dbt.cast('is_review_overdue', b) }} as is_review_overdue,
    {{ dbt.cast('n_complaints_window', i) }} as n_complaints_window,
    {{ dbt.cast('volume_ratio', 'decimal(12,2)') }} as volume_ratio,
    {{ dbt.cast('satisfaction_window', 'decimal(6,2)') }} as satisfaction_window,
    {{ dbt.cast('satisfaction_baseline', 'decimal(6,2)') }} as satisfaction_baseline,
    {{ dbt.cast('n_linked_surges', i) }} as n_linked_surges,
    {{ dbt.cast('policy_version', t) }} as policy_version
from {{ ref('pub_incidents') }}
