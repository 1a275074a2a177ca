-- ITSM events (cases feed) that do not count, with the file and line they came from and why
-- (int_response__case_events: unknown_case, before_opened, went_backwards). They never change a
-- case; the test on this model warns on the night so nobody loses them silently.
select
    event_id,
    case_id,
    itsm_ref,
    event,
    event_at,
    quarantine_reason,
    _feed_date,
    _source_file,
    _source_line
from {{ ref('int_response__case_events') }}
where quarantine_reason is not null
