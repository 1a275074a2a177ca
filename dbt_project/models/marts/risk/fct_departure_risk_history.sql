-- One row per (as_of_date, employee_id): the departure-risk tier of every active employee, one
-- slice per run date. Incremental: a run replaces the slice of its own run_date (delete+insert on
-- as_of_date) and leaves every other slice alone, so rerunning a night is idempotent and a
-- backfill of an earlier date does not touch later ones. full_refresh=false: --full-refresh does not
-- wipe the history (to restart it, drop the table and rerun the nights).
{{ config(**slice_per_run_config('as_of_date')) }}

select
    as_of_date,
    employee_id,
    department,
    position,
    tier,
    score,
    base_points,
    impact_multiplier,
    n_signals,
    has_performance_drop,
    has_recent_job_change,
    has_demotion,
    has_contract_ending,
    has_given_notice,
    has_manager_left,
    n_clients,
    has_privileged_access,
    policy_version
from {{ ref('fct_departure_risk') }}
