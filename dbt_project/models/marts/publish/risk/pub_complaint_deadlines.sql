-- Published (contract enforced): the complaint deadline worklist and breaches (rule CH-01). One row
-- per complaint_id that is unresolved on run_date (open_within_deadline, with days_to_deadline, or
-- open_past_deadline) or was resolved after its deadline within the last review_window_days.
--   priority  P1 open past the deadline, P2 resolved late, P3 open within the deadline
--   is_new_breach  the deadline passed on the night before run_date: first night as a breach
-- alert_key ('CH-01:<complaint_id>') is stable across nights. No complaint text, no PII.
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
{%- set review_from = dbt.cast(dbt.dateadd('day', -1 * (var('review_window_days', 92) | int), run_date_sql()), 'date') %}
with deadlines as (

    select * from {{ ref('fct_complaint_deadlines') }}
    where deadline_status in ('open_within_deadline', 'open_past_deadline')
       or (deadline_status = 'resolved_late' and resolved_date > {{ review_from }})

)

select
    cast({{ dbt.concat(["'CH-01:'", 'complaint_id']) }} as {{ t }}) as alert_key,
    cast(complaint_id as {{ t }}) as complaint_id,
    cast(complainant_id as {{ t }}) as complainant_id,
    cast(client_id as {{ t }}) as client_id,
    cast(channel as {{ t }}) as channel,
    cast(category as {{ t }}) as category,
    cast(branch_id as {{ t }}) as branch_id,
    cast(employee_id as {{ t }}) as employee_id,
    cast(status as {{ t }}) as status,
    cast(received_date as date) as received_date,
    cast(response_days as {{ i }}) as response_days,
    cast(extension_days as {{ i }}) as extension_days,
    cast(deadline_date as date) as deadline_date,
    cast(resolved_date as date) as resolved_date,
    cast(deadline_status as {{ t }}) as deadline_status,
    cast(is_breached as {{ dbt.type_boolean() }}) as is_breached,
    cast(deadline_status = 'open_past_deadline' and days_past_deadline = 1 as {{ dbt.type_boolean() }}) as is_new_breach,
    cast(days_past_deadline as {{ i }}) as days_past_deadline,
    cast(days_to_deadline as {{ i }}) as days_to_deadline,
    cast(is_externally_escalated as {{ dbt.type_boolean() }}) as is_externally_escalated,
    cast(names_employee as {{ dbt.type_boolean() }}) as names_employee,
    cast(insider_link as {{ dbt.type_boolean() }}) as insider_link,
    cast(
        case deadline_status
            when 'open_past_deadline' then 'P1'
            when 'resolved_late' then 'P2'
            else 'P3'
        end as {{ t }}) as priority,
    cast('CH-01' as {{ t }}) as rule_id,
    cast(policy_version as {{ t }}) as policy_version,
    cast(as_of_date as date) as as_of_date
from deadlines
