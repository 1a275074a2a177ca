-- One row per (client_id, rm_employee_id): a client on the book of a relationship manager who has
-- left (termination_date <= run_date) at the time of the departure. The book is read from the
-- assignment history (stg_crm__rm_assignments): an assignment of the RM that started on or before
-- the termination date and was still in force on or after the start of the departure (the notice
-- date; without one, rm_book_lookback_days before the termination date) - organic handovers happen
-- during the notice period, so the old assignment may end before the termination date. Clients
-- closed before the termination date, or opened after it, were not on the book at departure.
-- The latest such assignment per (client, RM) is kept. The handover is the client's first later
-- assignment to another RM known to HR who had not left by its start, starting on or before run_date.
{%- set lookback = var('rm_book_lookback_days') | int %}
with assignments as (

    select * from {{ ref('stg_crm__rm_assignments') }}

),

clients as (

    select * from {{ ref('stg_crm__clients') }}

),

employees as (

    select * from {{ ref('int_employees__with_status') }}

),

departed as (

    select
        employee_id,
        termination_date,
        notice_date,
        coalesce(
            notice_date,
            {{ dbt.cast(dbt.dateadd('day', -lookback, 'termination_date'), 'date') }}
        ) as book_from_date
    from employees
    where is_leaver

),

book as (

    select
        assignments.client_id,
        assignments.rm_employee_id,
        departed.termination_date as rm_termination_date,
        departed.notice_date as rm_notice_date,
        assignments.start_date as assignment_start_date,
        assignments.end_date as assignment_end_date,
        row_number() over (
            partition by assignments.client_id, assignments.rm_employee_id
            order by assignments.start_date desc
        ) as recency_rank
    from assignments
    inner join departed
        on assignments.rm_employee_id = departed.employee_id
    where assignments.start_date <= departed.termination_date
      and (assignments.end_date is null or assignments.end_date >= departed.book_from_date)

),

successors as (

    -- later assignments of the same client to another RM who had not left when it started
    select
        book.client_id,
        book.rm_employee_id,
        assignments.rm_employee_id as new_rm_employee_id,
        assignments.start_date,
        row_number() over (
            partition by book.client_id, book.rm_employee_id
            order by assignments.start_date, assignments.rm_employee_id
        ) as succession_rank
    from book
    inner join assignments
        on book.client_id = assignments.client_id
        and assignments.start_date > book.assignment_start_date
        and assignments.rm_employee_id <> book.rm_employee_id
        and assignments.start_date <= {{ run_date_sql() }}
    inner join employees as new_rm
        on assignments.rm_employee_id = new_rm.employee_id
    where book.recency_rank = 1
      and (new_rm.termination_date is null or new_rm.termination_date > assignments.start_date)

)

select
    book.client_id,
    book.rm_employee_id,
    book.rm_termination_date,
    book.rm_notice_date,
    book.assignment_start_date,
    book.assignment_end_date,
    clients.status as client_status,
    clients.opened_date as client_opened_date,
    clients.closed_date as client_closed_date,
    clients.rm_employee_id as client_current_rm_employee_id,
    successors.new_rm_employee_id,
    successors.start_date as new_assignment_start_date
from book
inner join clients
    on book.client_id = clients.client_id
left join successors
    on book.client_id = successors.client_id
    and book.rm_employee_id = successors.rm_employee_id
    and successors.succession_rank = 1
where book.recency_rank = 1
  and (clients.opened_date is null or clients.opened_date <= book.rm_termination_date)
  and (
      (clients.status = 'active' and (clients.closed_date is null or clients.closed_date > {{ run_date_sql() }}))
      or clients.closed_date >= book.rm_termination_date
  )
