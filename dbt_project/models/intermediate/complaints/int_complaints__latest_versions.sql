-- One row per complaint_id: its latest version among all versions delivered on or before run_date.
-- The row with the latest updated_at wins; a tie (the same version delivered again) goes to the
-- latest _feed_date, then to the last line of the file, so the choice is deterministic.
with versions as (

    select * from {{ ref('stg_complaints__complaints') }}

),

ranked as (

    select
        versions.*,
        row_number() over (
            partition by complaint_id
            order by updated_at desc, _feed_date desc, _source_line desc nulls last
        ) as version_rank,
        count(*) over (partition by complaint_id) as n_versions,
        min(_feed_date) over (partition by complaint_id) as first_feed_date
    from versions

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
    _source_line
from ranked
where version_rank = 1
