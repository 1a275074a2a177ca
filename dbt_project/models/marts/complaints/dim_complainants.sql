-- One row per complainant_id: the latest delivery on or before run_date, with counts of their
-- complaints (latest versions) as of run_date.
with complainants as (

    select * from {{ ref('int_complainants__latest_versions') }}

),

complaints as (

    select
        complainant_id,
        count(*) as n_complaints,
        sum(case when status in ('open', 'in_progress') then 1 else 0 end) as n_open_complaints,
        min(received_at) as first_complaint_received_at
    from {{ ref('int_complaints__latest_versions') }}
    group by complainant_id

)

select
    complainants.complainant_id,
    complainants.full_name_token,
    complainants.national_id_token,
    complainants.phone_token,
    complainants.client_id,
    complainants.insider_link,
    {{ dbt.cast('coalesce(complaints.n_complaints, 0)', dbt.type_int()) }} as n_complaints,
    {{ dbt.cast('coalesce(complaints.n_open_complaints, 0)', dbt.type_int()) }} as n_open_complaints,
    complaints.first_complaint_received_at,
    complainants.first_feed_date,
    {{ run_date_sql() }} as as_of_date,
    complainants._feed_date,
    complainants._source_file,
    complainants._source_line
from complainants
left join complaints
    on complainants.complainant_id = complaints.complainant_id
