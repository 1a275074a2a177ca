-- Published (contract enforced): the incident register's timeliness and customer impact (IN-01)
-- as it stood at the end of each quarter, for the review pack's "Incidents" (docs/review-pack.md).
-- One row per (snapshot_date, incident_id), snapshot_date = run_date; same retention as
-- pub_review_findings. No PII: incident ids, places, times, counts. A drill's incident (DRILL- id,
-- docs/drills.md) is left out: the pack shows drills in its Drills table only.
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

{{ review_slice(ref('pub_incidents'), [
    'incident_id', 'kind', 'severity', 'location_type', 'location', 'reported_date', 'hours_to_report', 'hours_to_activate', 'hours_to_restore', 'days_to_review', 'post_review_at', 'is_review_overdue', 'n_complaints_window', 'volume_ratio', 'satisfaction_window', 'satisfaction_baseline', 'n_linked_surges', 'policy_version'
], where=is_drill_negated('incident_id')) }}
