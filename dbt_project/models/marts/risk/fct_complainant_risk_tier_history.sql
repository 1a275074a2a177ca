-- One row per (as_of_date, complainant_id): the complainant risk tier of everyone in the tiering
-- population on that run date, one slice per run date. Incremental: a run replaces the slice of
-- its own run_date (delete+insert on as_of_date) and leaves every other slice alone, so rerunning
-- a night is idempotent and a backfill of an earlier date does not touch later ones.
{{ config(**slice_per_run_config('as_of_date')) }}

select
    as_of_date,
    complainant_id,
    tier,
    total_points,
    n_complaints_window,
    is_repeat_complainant,
    worst_severity,
    has_insider_link,
    n_external_escalations_window,
    n_open_past_deadline,
    policy_version
from {{ ref('fct_complainant_risk_tiers') }}
