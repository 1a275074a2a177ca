-- One row per incident_id: the latest delivery on or before run_date (latest _feed_date, then the
-- last line of the file), with its window and place for the complaint impact and surge links.
--   window_start_date  UTC date of started_at
--   window_end_date    UTC date of restored_at, or run_date while not restored (never after run_date)
--   A branch incident's place is its branch_id, a region incident's the branches of its region (seed
--   branch_regions), a channel incident's its complaint channel; a bank_wide incident covers every
--   branch and channel.
with versions as (

    select
        *,
        row_number() over (partition by incident_id order by _feed_date desc, _source_line desc) as version_rank
    from {{ ref('stg_incidents__incidents') }}

)

select
    incident_id,
    kind,
    started_at,
    reported_at,
    location_type,
    location,
    services_affected,
    customers_affected,
    severity,
    case when activated_at is not null and {{ utc_date('activated_at') }} <= {{ run_date_sql() }} then activated_at end as activated_at,
    case when restored_at is not null and {{ utc_date('restored_at') }} <= {{ run_date_sql() }} then restored_at end as restored_at,
    case when post_review_at is not null and {{ utc_date('post_review_at') }} <= {{ run_date_sql() }} then post_review_at end as post_review_at,
    effectiveness,
    {{ utc_date('started_at') }} as window_start_date,
    case
        when restored_at is not null and {{ utc_date('restored_at') }} <= {{ run_date_sql() }} then {{ utc_date('restored_at') }}
        else {{ run_date_sql() }}
    end as window_end_date,
    _feed_date,
    _source_file,
    _source_line
from versions
where version_rank = 1
  and {{ utc_date('started_at') }} <= {{ run_date_sql() }}
