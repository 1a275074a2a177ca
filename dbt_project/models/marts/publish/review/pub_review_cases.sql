-- Published (contract enforced): the response loop's cases as they stood at the end of each
-- quarter, for the review pack's "Response SLA" and "Oldest open cases" (docs/review-pack.md).
-- One row per (snapshot_date, case_id), snapshot_date = run_date; same retention as
-- pub_review_findings (the latest slice of each calendar quarter). No PII: ids, teams, dates.
{%- set t = dbt.type_string() %}
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

select
    {{ run_date_sql() }} as snapshot_date,
    {{ dbt.cast('case_id', t) }} as case_id,
    {{ dbt.cast('kind', t) }} as kind,
    {{ dbt.cast('owner_team', t) }} as owner_team,
    {{ dbt.cast('opened_on', 'date') }} as opened_on,
    {{ dbt.cast('due_by', 'date') }} as due_by,
    {{ dbt.cast('priority', t) }} as priority,
    {{ dbt.cast('status', t) }} as status,
    {{ dbt.cast('closed_at', 'date') }} as closed_at,
    {{ dbt.cast('policy_version', t) }} as policy_version
from {{ ref('pub_cases') }}
where not {{ is_drill('subject_id') }}  -- a drill's case is in the pack's Drills table only (docs/drills.md)
