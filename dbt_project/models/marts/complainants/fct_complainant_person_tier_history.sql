-- One row per (as_of_date, person_key): the combined tier of every person in the tiering
-- population on that run date (fct_complainant_persons), one slice per run date. Incremental: a
-- run replaces the slice of its own run_date and leaves every other slice alone (rerun-safe; a
-- backfill of an earlier date does not touch later ones). The handling plan reads tier entry here.
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
    person_key,
    tier,
    total_points,
    needs_handling,
    policy_version
from {{ ref('fct_complainant_persons') }}
