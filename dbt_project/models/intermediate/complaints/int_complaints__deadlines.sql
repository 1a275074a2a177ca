-- One row per complaint_id (latest version on or before run_date): its response deadline and how
-- it was met, from dated events only (received_at, resolved_at), so the outcome on any past day
-- can be recomputed.
--   deadline_date   received_date + complaint_response_days + extension (seed
--                   complaint_deadline_extensions, capped at complaint_max_extension_days); a reply
--                   on the deadline day is in time
--   resolved_date   UTC date of resolved_at (updated_at when a resolved/closed version has none),
--                   only for status resolved/closed and only when on or before run_date
--   breach_type     resolved_late (resolved after the deadline) or open_past_deadline (not resolved
--                   and run_date is after the deadline); null otherwise
with complaints as (

    select * from {{ ref('int_complaints__latest_versions') }}

),

complainants as (

    select complainant_id, client_id, insider_link
    from {{ ref('int_complainants__latest_versions') }}

),

extensions as (

    select
        complaint_id,
        case
            when extension_days < 0 then 0
            when extension_days > {{ var('complaint_max_extension_days') }} then {{ var('complaint_max_extension_days') }}
            else extension_days
        end as extension_days
    from {{ ref('complaint_deadline_extensions') }}

),

dated as (

    select
        complaints.*,
        {{ utc_date('complaints.received_at') }} as received_date,
        case
            when complaints.status in ('resolved', 'closed')
                then {{ utc_date('coalesce(complaints.resolved_at, complaints.updated_at)') }}
        end as resolution_date,
        {{ dbt.cast('coalesce(extensions.extension_days, 0)', dbt.type_int()) }} as extension_days
    from complaints
    left join extensions
        on complaints.complaint_id = extensions.complaint_id

),

deadlined as (

    select
        dated.*,
        case when resolution_date <= {{ run_date_sql() }} then resolution_date end as resolved_date,
        {{ dbt.cast(dbt.dateadd('day', var('complaint_response_days') ~ ' + extension_days', 'received_date'), 'date') }}
            as deadline_date
    from dated

)

select
    deadlined.complaint_id,
    deadlined.complainant_id,
    complainants.client_id,
    coalesce(complainants.insider_link, false) as insider_link,
    deadlined.channel,
    deadlined.category,
    deadlined.product,
    deadlined.branch_id,
    deadlined.employee_id,
    deadlined.employee_id is not null as names_employee,
    deadlined.status,
    deadlined.resolved_date is null as is_unresolved,
    deadlined.received_date,
    deadlined.resolved_date,
    {{ dbt.cast(var('complaint_response_days'), dbt.type_int()) }} as response_days,
    deadlined.extension_days,
    deadlined.deadline_date,
    case
        when deadlined.resolved_date is not null
            then {{ dbt.cast(dbt.datediff('deadlined.received_date', 'deadlined.resolved_date', 'day'), dbt.type_int()) }}
    end as days_to_resolve,
    case
        when deadlined.resolved_date is not null and deadlined.resolved_date > deadlined.deadline_date then 'resolved_late'
        when deadlined.resolved_date is null and {{ run_date_sql() }} > deadlined.deadline_date then 'open_past_deadline'
    end as breach_type,
    case
        when deadlined.resolved_date is null and {{ run_date_sql() }} > deadlined.deadline_date
            then {{ dbt.cast(dbt.datediff('deadlined.deadline_date', run_date_sql(), 'day'), dbt.type_int()) }}
        when deadlined.resolved_date is not null and deadlined.resolved_date > deadlined.deadline_date
            then {{ dbt.cast(dbt.datediff('deadlined.deadline_date', 'deadlined.resolved_date', 'day'), dbt.type_int()) }}
        else 0
    end as days_past_deadline,
    coalesce(deadlined.escalated_externally, false)
        or deadlined.channel in ({% for c in var('external_escalation_channels') %}'{{ c }}'{% if not loop.last %}, {% endif %}{% endfor %})
        as is_externally_escalated,
    deadlined.satisfaction,
    {{ run_date_sql() }} as as_of_date,
    deadlined._feed_date,
    deadlined._source_file,
    deadlined._source_line
from deadlined
left join complainants
    on deadlined.complainant_id = complainants.complainant_id
