-- One row per complainant_id with a complaint received in the trailing window (the
-- complainant_window_days = 365 days ending on run_date: received_date > run_date - 365) or an
-- unresolved complaint past its response deadline (whenever received): the inputs of the
-- complainant risk tiers.
--   n_complaints_window           complaints received in the window
--   worst_severity                worst reason in the window (seed complaint_category_severity;
--                                 a category missing there is low)
--   has_insider_link              the complainant's latest record says insider_link
--   n_external_escalations_window complaints in the window that came through / went to a regulator
--                                 or the media (channel in external_escalation_channels or
--                                 escalated_externally)
--   n_open_past_deadline          unresolved complaints whose deadline is before run_date
with complaints as (

    select * from {{ ref('int_complaints__deadlines') }}

),

severity as (

    select category, severity from {{ ref('complaint_category_severity') }}

),

complainants as (

    select complainant_id, client_id, insider_link
    from {{ ref('int_complainants__latest_versions') }}

),

flagged as (

    select
        complaints.complainant_id,
        complaints.complaint_id,
        complaints.received_date > {{ dbt.cast(dbt.dateadd('day', -1 * var('complainant_window_days'), run_date_sql()), 'date') }}
            and complaints.received_date <= {{ run_date_sql() }} as in_window,
        case coalesce(severity.severity, 'low') when 'high' then 3 when 'medium' then 2 else 1 end as severity_rank,
        complaints.is_externally_escalated,
        complaints.breach_type = 'open_past_deadline' as is_open_past_deadline,
        complaints.received_date
    from complaints
    left join severity
        on complaints.category = severity.category

),

per_complainant as (

    select
        complainant_id,
        sum(case when in_window then 1 else 0 end) as n_complaints_window,
        max(case when in_window then severity_rank end) as worst_severity_rank,
        sum(case when in_window and severity_rank = 3 then 1 else 0 end) as n_high_severity_window,
        sum(case when in_window and is_externally_escalated then 1 else 0 end) as n_external_escalations_window,
        sum(case when is_open_past_deadline then 1 else 0 end) as n_open_past_deadline,
        min(case when in_window then received_date end) as first_received_date_window,
        max(case when in_window then received_date end) as last_received_date_window
    from flagged
    group by complainant_id

)

select
    per_complainant.complainant_id,
    complainants.client_id,
    {{ dbt.cast('per_complainant.n_complaints_window', dbt.type_int()) }} as n_complaints_window,
    case per_complainant.worst_severity_rank when 3 then 'high' when 2 then 'medium' when 1 then 'low' end as worst_severity,
    {{ dbt.cast('per_complainant.n_high_severity_window', dbt.type_int()) }} as n_high_severity_window,
    coalesce(complainants.insider_link, false) as has_insider_link,
    {{ dbt.cast('per_complainant.n_external_escalations_window', dbt.type_int()) }} as n_external_escalations_window,
    {{ dbt.cast('per_complainant.n_open_past_deadline', dbt.type_int()) }} as n_open_past_deadline,
    per_complainant.first_received_date_window,
    per_complainant.last_received_date_window,
    {{ run_date_sql() }} as as_of_date
from per_complainant
left join complainants
    on per_complainant.complainant_id = complainants.complainant_id
where per_complainant.n_complaints_window > 0
   or per_complainant.n_open_past_deadline > 0
