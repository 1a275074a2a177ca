-- Published (contract enforced): the response loop's cases as they stood at the end of each
-- quarter, for the review pack's "Response SLA" and "Oldest open cases" (docs/review-pack.md).
-- One row per (snapshot_date, case_id), snapshot_date = run_date; same retention as
-- pub_review_findings (the latest slice of each calendar quarter). No PII: ids, teams, dates.
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

{#- a drill's case is in the pack's Drills table only (docs/drills.md) -#}
{{ review_slice(ref('pub_cases'), [
    'case_id', 'kind', 'owner_team', 'opened_on', 'due_by', 'priority', 'status', 'closed_at', 'policy_version'
], where=is_drill_negated('subject_id')) }}
