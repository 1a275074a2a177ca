-- One row per complainant_id: the latest delivery on or before run_date (latest _feed_date wins;
-- within one file the last line wins).
with versions as (

    select * from {{ ref('stg_complaints__complainants') }}

),

ranked as (

    select
        versions.*,
        row_number() over (
            partition by complainant_id
            order by _feed_date desc, _source_line desc nulls last
        ) as version_rank,
        min(_feed_date) over (partition by complainant_id) as first_feed_date
    from versions

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
    _source_line
from ranked
where version_rank = 1
