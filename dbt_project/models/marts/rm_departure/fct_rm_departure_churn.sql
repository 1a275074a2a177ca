-- Rule AL-10, churn after an RM's departure (feeds the churn KPI). One row per
-- (client_id, rm_employee_id): every client on the book of a relationship manager who left
-- (termination_date <= run_date; see int_access__rm_departure_books). churned = the client closed
-- 0 to churn_window_days (90) days after the RM's termination date, inclusive: day 90 is churn,
-- day 91 is not. is_window_open: the window has not ended on run_date (a churn may still come).
{%- set window = var('churn_window_days') | int %}
with book as (

    select * from {{ ref('int_access__rm_departure_books') }}

),

measured as (

    select
        book.*,
        case
            when client_closed_date is not null and client_closed_date <= {{ run_date_sql() }}
                then {{ dbt.datediff('rm_termination_date', 'client_closed_date', 'day') }}
        end as days_after_termination,
        {{ dbt.cast(dbt.dateadd('day', window, 'rm_termination_date'), 'date') }} as churn_window_end_date
    from book

)

select
    client_id,
    rm_employee_id,
    rm_termination_date,
    case when days_after_termination is not null then client_closed_date end as closed_date,
    coalesce(days_after_termination between 0 and {{ window }}, false) as churned,
    {{ dbt.cast('days_after_termination', dbt.type_int()) }} as days_after_termination,
    churn_window_end_date,
    {{ run_date_sql() }} <= churn_window_end_date as is_window_open,
    new_rm_employee_id,
    new_assignment_start_date as handed_over_on,
    client_status,
    'AL-10' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from measured
