-- One row per (as_of_date, case_id, item): tonight's findings (int_response__findings) with their
-- deterministic case id, one slice per run date. Incremental (delete+insert on as_of_date,
-- full_refresh=false) like the other *_history models: a rerun replaces its own slice, a
-- backfill adds an earlier one, later slices stay.
-- case_id = 'VCS-' + md5(kind|subject_type|subject_id), plus |termination date for a leaver (a
-- rehired employee who leaves again is a new case): the same finding gets the same id on every
-- night, rerun and backfill, on every warehouse.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
        full_refresh=false
    )
}}
{%- set t = dbt.type_string() %}

select
    {{ run_date_sql() }} as as_of_date,
    {{ response_case_id('kind', 'subject_type', 'subject_id', 'detected_on') }} as case_id,
    kind,
    subject_type,
    subject_id,
    severity,
    detected_on,
    owner_team,
    department,
    detected_by_team,
    item
from {{ ref('int_response__findings') }}
