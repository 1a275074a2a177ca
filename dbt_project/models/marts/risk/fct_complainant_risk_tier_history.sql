-- One row per (as_of_date, complainant_id): the complainant risk tier of everyone in the tiering
-- population on that run date, one slice per run date. Incremental: a run replaces the slice of
-- its own run_date (delete+insert on as_of_date) and leaves every other slice alone, so rerunning
-- a night is idempotent and a backfill of an earlier date does not touch later ones.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
        full_refresh=false
    )
}}

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
