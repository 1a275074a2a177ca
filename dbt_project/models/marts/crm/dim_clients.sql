-- One row per client_id in the CRM snapshot as of run_date, with its current relationship manager
-- (the client record's rm_employee_id) checked against HR (rm_status: matched / unassigned /
-- unknown_employee) and against the assignment history in force on run_date.
with clients as (

    select * from {{ ref('stg_crm__clients') }}

),

assignments as (

    select * from {{ ref('int_rm_assignments__active_on_run_date') }}

),

employees as (

    select * from {{ ref('int_employees__with_status') }}

)

select
    clients.client_id,
    clients.client_name_token,
    clients.segment,
    clients.status,
    clients.status = 'active' as is_active,
    clients.opened_date,
    clients.closed_date,
    clients.aum,
    clients.rm_employee_id,
    case
        when clients.rm_employee_id is null then 'unassigned'
        when employees.employee_id is null then 'unknown_employee'
        else 'matched'
    end as rm_status,
    employees.is_active as rm_is_active,
    employees.is_leaver as rm_is_leaver,
    employees.termination_date as rm_termination_date,
    case
        when assignments.rm_employee_id = clients.rm_employee_id then assignments.start_date
    end as rm_assigned_since,
    assignments.rm_employee_id as assignment_rm_employee_id,
    {{ run_date_sql() }} as as_of_date,
    clients._feed_date,
    clients._source_file,
    clients._source_line
from clients
left join assignments
    on clients.client_id = assignments.client_id
left join employees
    on clients.rm_employee_id = employees.employee_id
