-- One row per (as_of_date, kpi, period_type, period_start): the scorecard as each run date reported
-- it, one slice per run date (delete+insert on as_of_date, so rerunning a night is idempotent and
-- other slices are untouched). It shows what was reported when, and proves that a complete period
-- keeps its figures from one night to the next.
{{ config(**slice_per_run_config('as_of_date')) }}

select
    as_of_date,
    kpi,
    period_type,
    period_start,
    period_label,
    is_complete,
    value,
    numerator,
    denominator,
    target,
    status,
    policy_version
from {{ ref('fct_kpi_scorecard') }}
