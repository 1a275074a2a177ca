-- One row per complaint_id (latest version on or before run_date): its response deadline and
-- deadline status as of run_date (int_complaints__deadlines has the rule).
--   deadline_status  resolved_on_time / resolved_late / open_within_deadline / open_past_deadline
select
    as_of_date,
    complaint_id,
    complainant_id,
    client_id,
    insider_link,
    channel,
    category,
    branch_id,
    employee_id,
    names_employee,
    status,
    received_date,
    response_days,
    extension_days,
    deadline_date,
    resolved_date,
    days_to_resolve,
    case
        when resolved_date is not null and breach_type is null then 'resolved_on_time'
        when resolved_date is not null then 'resolved_late'
        when breach_type is null then 'open_within_deadline'
        else 'open_past_deadline'
    end as deadline_status,
    breach_type is not null as is_breached,
    breach_type,
    days_past_deadline,
    case
        when resolved_date is null and breach_type is null
            then {{ dbt.cast(dbt.datediff(run_date_sql(), 'deadline_date', 'day'), dbt.type_int()) }}
    end as days_to_deadline,
    is_externally_escalated,
    satisfaction,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version,
    _feed_date,
    _source_file,
    _source_line
from {{ ref('int_complaints__deadlines') }}
