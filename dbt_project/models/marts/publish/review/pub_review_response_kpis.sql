-- Published (contract enforced): the response KPIs of the run date's quarter per department of
-- the subject (fct_response_kpis, every kind and owner team), as they stood at the end of each
-- quarter, for the review pack's "Response by department" (docs/review-pack.md).
-- One row per (snapshot_date, department, kpi), snapshot_date = run_date; same retention as
-- pub_review_findings. No PII: departments, KPI names, numbers.
{%- set quarter_start = dbt.cast(dbt.date_trunc('quarter', run_date_sql()), 'date') %}
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

{{ review_slice(ref('fct_response_kpis'), [
    'department', 'kpi', 'period_start', 'numerator', 'denominator', 'value'
], where="period_type = 'quarter' and period_start = " ~ quarter_start
         ~ " and kind = '*' and owner_team = '*' and department <> '*'") }}
