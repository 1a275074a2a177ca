-- One row per complaint_id: the latest version delivered on or before run_date, with its age.
-- days_open counts calendar days (UTC) from receipt to resolution, or to run_date while the
-- complaint is unresolved (a resolution dated after run_date does not count yet).
with complaints as (

    select * from {{ ref('int_complaints__latest_versions') }}

),

complainants as (

    select * from {{ ref('int_complainants__latest_versions') }}

),

dated as (

    select
        complaints.*,
        {{ utc_date('complaints.received_at') }} as received_date,
        {{ utc_date('complaints.resolved_at') }} as resolved_date
    from complaints

),

aged as (

    select
        dated.*,
        case
            when resolved_date is not null and resolved_date <= {{ run_date_sql() }} then resolved_date
            else {{ run_date_sql() }}
        end as age_end_date
    from dated

)

select
    aged.complaint_id,
    aged.complainant_id,
    complainants.client_id,
    complainants.insider_link,
    aged.received_at,
    aged.received_date,
    aged.updated_at,
    aged.channel,
    aged.category,
    aged.product,
    aged.branch_id,
    aged.employee_id,
    aged.status,
    aged.status in ('open', 'in_progress') as is_open,
    aged.resolved_at,
    aged.resolved_date,
    aged.outcome,
    aged.escalated_externally,
    aged.satisfaction,
    aged.amount,
    {{ dbt.cast(dbt.datediff('aged.received_date', 'aged.age_end_date', 'day'), dbt.type_int()) }} as days_open,
    aged.n_versions,
    aged.first_feed_date,
    {{ run_date_sql() }} as as_of_date,
    aged._feed_date,
    aged._source_file,
    aged._source_line
from aged
left join complainants
    on aged.complainant_id = complainants.complainant_id
