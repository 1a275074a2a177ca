-- One row per run date that built the response models: the nights a case could have been seen
-- on. A case absent on one of them was verified closed that night (int_response__case_episodes).
-- Incremental like the other *_history models: a run replaces its own date only, so a rerun is
-- idempotent and a backfill does not touch later nights; full_refresh=false keeps it.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        full_refresh=false
    )
}}

select {{ run_date_sql() }} as as_of_date
