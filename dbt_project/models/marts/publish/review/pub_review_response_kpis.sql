-- Published (contract enforced): the response KPIs of the run date's quarter per department of
-- the subject (fct_response_kpis, every kind and owner team), as they stood at the end of each
-- quarter, for the review pack's "Response by department" (docs/review-pack.md).
-- One row per (snapshot_date, department, kpi), snapshot_date = run_date; same retention as
-- pub_review_findings. No PII: departments, KPI names, numbers.
{%- set t = dbt.type_string() %}
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

select
    {{ run_date_sql() }} as snapshot_date,
    {{ dbt.cast('department', t) }} as department,
    {{ dbt.cast('kpi', t) }} as kpi,
    {{ dbt.cast('period_start', 'date') }} as period_start,
    {{ dbt.cast('numerator', 'decimal(18,4)') }} as numerator,
    {{ dbt.cast('denominator', dbt.type_int()) }} as denominator,
    {{ dbt.cast('value', 'decimal(18,4)') }} as value
from {{ ref('fct_response_kpis') }}
where period_type = 'quarter'
  and period_start = {{ dbt.cast(dbt.date_trunc('quarter', run_date_sql()), 'date') }}
  and kind = '*'
  and owner_team = '*'
  and department <> '*'
