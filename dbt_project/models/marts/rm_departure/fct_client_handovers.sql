-- Rule AL-09, client handover after an RM's departure (feeds the handover KPI). One row per
-- (client_id, rm_employee_id): a client on the book of a relationship manager who left
-- (termination_date <= run_date; book as in int_access__rm_departure_books) and who was still a
-- client on the handover due date (a client that closed by then needs no handover; see
-- fct_rm_departure_churn). handover_due_date = rm_termination_date + handover_business_days (5)
-- business days, Monday to Friday (a termination on a weekend counts from the next Monday).
-- handed_over_on = start of the client's first later assignment to another RM who had not left;
-- while the client is active and the CRM record still names the departed RM, the client is not
-- handed over whatever the history says. status:
--   done     handed over (handed_over_within_due says whether on time: on or before the due date)
--   pending  not handed over, run_date <= handover_due_date
--   overdue  not handed over, run_date > handover_due_date
{%- set n = var('handover_business_days') | int %}
with book as (

    select * from {{ ref('int_access__rm_departure_books') }}

),

weekday as (

    select
        book.*,
        -- ISO day of week, 1 = Monday ... 7 = Sunday
        {{ dbt.cast(iso_day_of_week('book.rm_termination_date'), dbt.type_int()) }} as termination_isodow
    from book

),

due as (

    -- from a weekend, count from the Friday before (Saturday and Sunday are no business days);
    -- then n business days after a weekday with index wd (Monday = 0) are
    -- n + 2 * floor((wd + n) / 5) calendar days later
    select
        weekday.*,
        {{ dbt.cast(
            dbt.dateadd(
                'day',
                '(case when termination_isodow > 5 then 5 - termination_isodow else 0 end) + '
                ~ n ~ ' + 2 * ' ~ dbt.cast('floor((least(termination_isodow, 5) - 1 + ' ~ n ~ ') / 5.0)', dbt.type_int()),
                'rm_termination_date'),
            'date') }} as handover_due_date
    from weekday

),

resolved as (

    select
        due.*,
        client_status = 'active' and client_current_rm_employee_id = rm_employee_id as crm_names_departed_rm
    from due
    where client_closed_date is null or client_closed_date > handover_due_date

),

handed as (

    select
        resolved.*,
        case when not crm_names_departed_rm then new_rm_employee_id end as handover_rm_employee_id,
        case when not crm_names_departed_rm then new_assignment_start_date end as handover_date
    from resolved

)

select
    client_id,
    rm_employee_id,
    rm_termination_date,
    handover_due_date,
    handover_rm_employee_id as new_rm_employee_id,
    handover_date as handed_over_on,
    case
        when handover_date is not null then 'done'
        when {{ run_date_sql() }} <= handover_due_date then 'pending'
        else 'overdue'
    end as status,
    case
        when handover_date is not null then handover_date <= handover_due_date
        when {{ run_date_sql() }} > handover_due_date then false
    end as handed_over_within_due,
    {{ dbt.cast(
        'case when handover_date is null and ' ~ run_date_sql() ~ ' > handover_due_date then '
        ~ dbt.datediff('handover_due_date', run_date_sql(), 'day') ~ ' else 0 end', dbt.type_int()) }} as days_overdue,
    crm_names_departed_rm,
    client_status,
    client_closed_date,
    'AL-09' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from handed
