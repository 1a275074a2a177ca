-- One row per complainant_id: the latest delivery on or before run_date (latest _feed_date wins;
-- within one file the last line wins).
-- Incremental: a night folds only the deliveries after the last night folded in
-- (_versions_through); a new delivery always beats the stored one (it is from a later night), and
-- first_feed_date keeps the earliest. vigil.incremental decides when a full rebuild is needed.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='complainant_id',
        on_schema_change='fail'
    )
}}

with new_versions as (

    select *
    from {{ ref('stg_complaints__complainants') }}
    {{ not_yet_folded('_versions_through') }}

),

candidates as (

    select
        complainant_id, full_name_token, national_id_token, phone_token, client_id, insider_link,
        _feed_date as earliest_feed_date, _feed_date, _source_file, _source_line
    from new_versions
    {% if is_incremental() %}

    union all

    select
        complainant_id, full_name_token, national_id_token, phone_token, client_id, insider_link,
        first_feed_date, _feed_date, _source_file, _source_line
    from {{ this }}
    where complainant_id in (select complainant_id from new_versions)
    {% endif %}

),

ranked as (

    select
        candidates.*,
        row_number() over (
            partition by complainant_id
            order by _feed_date desc, _source_line desc nulls last
        ) as version_rank,
        min(earliest_feed_date) over (partition by complainant_id) as first_feed_date
    from candidates

)

select
    complainant_id,
    full_name_token,
    national_id_token,
    phone_token,
    client_id,
    insider_link,
    first_feed_date,
    _feed_date,
    _source_file,
    _source_line,
    (select max(_feed_date) from new_versions) as _versions_through
from ranked
where version_rank = 1
