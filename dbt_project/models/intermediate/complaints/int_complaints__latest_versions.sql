-- One row per complaint_id: its latest version among all versions delivered on or before run_date.
-- The row with the latest updated_at wins; a tie (the same version delivered again) goes to the
-- latest _feed_date, then to the last line of the file, so the choice is deterministic.
-- Incremental: a night folds only the versions delivered after the last night folded in
-- (_versions_through) into the complaints they touch; the winner of (last winner + new versions)
-- is the winner of all versions, n_versions adds up, first_feed_date keeps the earliest.
-- vigil.incremental decides when a full rebuild is needed instead (reruns, backfills, reloads).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='complaint_id',
        on_schema_change='fail'
    )
}}

with new_versions as (

    select
        *,
        1 as versions_counted,
        _feed_date as earliest_feed_date
    from {{ ref('stg_complaints__complaints') }}
    {{ not_yet_folded('_versions_through') }}

),

candidates as (

    select
        complaint_id, complainant_id, received_at, updated_at, channel, category, product, branch_id,
        employee_id, status, resolved_at, outcome, escalated_externally, satisfaction, amount,
        _feed_date, _source_file, _source_line, versions_counted, earliest_feed_date
    from new_versions
    {% if is_incremental() %}

    union all

    select
        complaint_id, complainant_id, received_at, updated_at, channel, category, product, branch_id,
        employee_id, status, resolved_at, outcome, escalated_externally, satisfaction, amount,
        _feed_date, _source_file, _source_line, n_versions, first_feed_date
    from {{ this }}
    where complaint_id in (select complaint_id from new_versions)
    {% endif %}

),

ranked as (

    select
        candidates.*,
        row_number() over (
            partition by complaint_id
            order by updated_at desc, _feed_date desc, _source_line desc nulls last
        ) as version_rank,
        sum(versions_counted) over (partition by complaint_id) as n_versions,
        min(earliest_feed_date) over (partition by complaint_id) as first_feed_date
    from candidates

)

select
    complaint_id,
    complainant_id,
    received_at,
    updated_at,
    channel,
    category,
    product,
    branch_id,
    employee_id,
    status,
    resolved_at,
    outcome,
    escalated_externally,
    satisfaction,
    amount,
    {{ dbt.cast('n_versions', dbt.type_int()) }} as n_versions,
    first_feed_date,
    _feed_date,
    _source_file,
    _source_line,
    (select max(_feed_date) from new_versions) as _versions_through
from ranked
where version_rank = 1
