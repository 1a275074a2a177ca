-- One row per (period_type, period_start) of int_kpi__periods: complaint-handling figures of the
-- month or quarter, from dated events up to the period's cutoff_date (period_end, or run_date for
-- the current period), so a past period's figures do not change as run_date moves on.
--   received cohort   received_date in the period: n_received, n_externally_escalated,
--                     n_naming_employee, complaints_per_1000_clients (per 1,000 clients active on
--                     the cutoff date: opened on or before it, not closed by it)
--   deadline cohort   deadline_date in the period (every outcome is known by the cutoff):
--                     n_due, n_due_resolved (resolved by the cutoff), n_due_on_time (resolved on or
--                     before the deadline), n_due_breached = n_due - n_due_on_time; the same for
--                     complaints naming an employee (cross-department follow-through)
--   resolved cohort   resolved_date in the period: n_resolved, median_days_to_resolve,
--                     mean_satisfaction over the n_with_satisfaction that carry a score
with periods as (

    select * from {{ ref('int_kpi__periods') }}

),

complaints as (

    select * from {{ ref('int_complaints__deadlines') }}

),

clients as (

    select * from {{ ref('stg_crm__clients') }}

),

received as (

    {% call per_period('complaints', 'received_date') -%}
        count(complaints.complaint_id) as n_received,
        sum(case when complaints.is_externally_escalated then 1 else 0 end) as n_externally_escalated,
        sum(case when complaints.names_employee then 1 else 0 end) as n_naming_employee
    {%- endcall %}

),

due as (

    {% call per_period('complaints', 'deadline_date') -%}
        count(complaints.complaint_id) as n_due,
        sum(case when complaints.resolved_date <= periods.cutoff_date then 1 else 0 end) as n_due_resolved,
        sum(case when complaints.resolved_date <= complaints.deadline_date then 1 else 0 end) as n_due_on_time,
        sum(case when complaints.names_employee then 1 else 0 end) as n_due_naming_employee,
        sum(case when complaints.names_employee and complaints.resolved_date <= complaints.deadline_date then 1 else 0 end)
            as n_due_naming_employee_on_time
    {%- endcall %}

),

resolved as (

    {% call per_period('complaints', 'resolved_date') -%}
        count(complaints.complaint_id) as n_resolved,
        {{ median('complaints.days_to_resolve') }} as median_days_to_resolve,
        count(complaints.satisfaction) as n_with_satisfaction,
        sum(complaints.satisfaction) as sum_satisfaction
    {%- endcall %}

),

active_clients as (

    select
        periods.period_type,
        periods.period_start,
        count(clients.client_id) as n_active_clients
    from periods
    left join clients
        on (clients.opened_date is null or clients.opened_date <= periods.cutoff_date)
        and (
            (clients.closed_date is null and clients.status = 'active')
            or clients.closed_date > periods.cutoff_date
        )
    group by periods.period_type, periods.period_start

)

select
    periods.period_type,
    periods.period_start,
    periods.period_end,
    periods.period_label,
    periods.cutoff_date,
    periods.is_complete,
    periods.is_reported,
    {{ dbt.cast('received.n_received', dbt.type_int()) }} as n_received,
    {{ dbt.cast('coalesce(received.n_externally_escalated, 0)', dbt.type_int()) }} as n_externally_escalated,
    {{ dbt.cast('coalesce(received.n_naming_employee, 0)', dbt.type_int()) }} as n_naming_employee,
    {{ dbt.cast('active_clients.n_active_clients', dbt.type_int()) }} as n_active_clients,
    case
        when active_clients.n_active_clients > 0
            then {{ dbt.cast('received.n_received * 1000.0 / active_clients.n_active_clients', 'decimal(18,4)') }}
    end as complaints_per_1000_clients,
    {{ dbt.cast('due.n_due', dbt.type_int()) }} as n_due,
    {{ dbt.cast('coalesce(due.n_due_resolved, 0)', dbt.type_int()) }} as n_due_resolved,
    {{ dbt.cast('coalesce(due.n_due_on_time, 0)', dbt.type_int()) }} as n_due_on_time,
    {{ dbt.cast('due.n_due - coalesce(due.n_due_on_time, 0)', dbt.type_int()) }} as n_due_breached,
    {{ dbt.cast('coalesce(due.n_due_naming_employee, 0)', dbt.type_int()) }} as n_due_naming_employee,
    {{ dbt.cast('coalesce(due.n_due_naming_employee_on_time, 0)', dbt.type_int()) }} as n_due_naming_employee_on_time,
    case when due.n_due > 0 then {{ dbt.cast('coalesce(due.n_due_resolved, 0) * 1.0 / due.n_due', 'decimal(18,4)') }} end
        as resolution_rate,
    case when due.n_due > 0 then {{ dbt.cast('(due.n_due - coalesce(due.n_due_on_time, 0)) * 1.0 / due.n_due', 'decimal(18,4)') }} end
        as deadline_breach_rate,
    case
        when due.n_due_naming_employee > 0
            then {{ dbt.cast('coalesce(due.n_due_naming_employee_on_time, 0) * 1.0 / due.n_due_naming_employee', 'decimal(18,4)') }}
    end as follow_through_rate,
    {{ dbt.cast('resolved.n_resolved', dbt.type_int()) }} as n_resolved,
    {{ dbt.cast('resolved.median_days_to_resolve', 'decimal(18,4)') }} as median_days_to_resolve,
    {{ dbt.cast('resolved.n_with_satisfaction', dbt.type_int()) }} as n_with_satisfaction,
    {{ dbt.cast('coalesce(resolved.sum_satisfaction, 0)', dbt.type_int()) }} as sum_satisfaction,
    case
        when resolved.n_with_satisfaction > 0
            then {{ dbt.cast('resolved.sum_satisfaction * 1.0 / resolved.n_with_satisfaction', 'decimal(18,4)') }}
    end as mean_satisfaction,
    periods.as_of_date,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from periods
inner join received
    on periods.period_type = received.period_type and periods.period_start = received.period_start
inner join due
    on periods.period_type = due.period_type and periods.period_start = due.period_start
inner join resolved
    on periods.period_type = resolved.period_type and periods.period_start = resolved.period_start
inner join active_clients
    on periods.period_type = active_clients.period_type and periods.period_start = active_clients.period_start
