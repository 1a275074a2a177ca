-- The response loop's KPIs (docs/cases.md, "Response KPIs"), one row per (kpi, period_type,
-- period_start, kind, owner_team, department); kind / owner_team / department '*' = all. Periods:
-- the months, quarters and years of int_kpi__periods (and its response-time baseline when one is
-- configured), each counting events up to its cutoff_date only (period_end, or run_date for the
-- current period), so a complete period keeps its figures. Cases are those of fct_cases (their
-- current episode):
--   time_to_acknowledge_days       cases opened in the period and acknowledged by the ITSM by the
--                                  cutoff: mean days from opened_on to the UTC date of acknowledged_at
--   time_to_verified_closure_days  cases verified closed in the period (closed_at): mean days from
--                                  the episode's start to closed_at
--   closed_within_sla              cases verified closed in the period: share closed on or before due_by
--   cross_department_completion    cases and leaver items owned by a team other than the one whose
--                                  feed detected them (detected_by_team), due in the period: share
--                                  verified closed on or before kpi_due_by (an open one counts as
--                                  late): fct_response_work_units, where the due date is measured from
--                                  Vigil's opening (the go-live population is not late on night 1)
--   risk_events_per_1000_employees cases opened in the period per 1,000 active employees on run_date
--   risk_events_per_1000_accounts  ... per 1,000 enabled accounts on run_date
--   cases_open, cases_overdue      current period only: open (not closed_verified) and past due_by
-- numerator / denominator are kept; value = numerator / denominator (per 1,000 for the rates; the
-- count itself for cases_open / cases_overdue).
{%- set t = dbt.type_string() %}
with periods as (

    select period_type, period_start, period_end, period_label, cutoff_date
    from {{ ref('int_kpi__periods') }}

),

cases as (

    select
        case_id, kind, owner_team, coalesce(department, 'unassigned') as department, detected_by_team,
        opened_on, episode_started_on, due_by, sla_days, status, closed_at, is_overdue,
        {{ utc_date('acknowledged_at') }} as acknowledged_on
    from {{ ref('fct_cases') }}
    where not {{ is_drill('subject_id') }}  -- a drill's case never counts (docs/drills.md)

),

population as (

    select
        (select count(*) from {{ ref('int_employees__with_status') }}
         where is_active and not {{ is_drill('employee_id') }}) as n_employees,
        (select count(*) from {{ ref('int_access__accounts') }}
         where is_enabled and not {{ is_drill('account_id') }}) as n_accounts

),

{%- set dims = [('kind', 'owner_team', 'department'), ('kind', "'*'", "'*'"), ("'*'", 'owner_team', "'*'"),
                ("'*'", "'*'", 'department'), ("'*'", "'*'", "'*'")] %}

measured as (

    {%- for kind, team, dept in dims %}
    {%- set g = 'c.' ~ kind if not kind.startswith("'") else kind %}
    {%- set gt = 'c.' ~ team if not team.startswith("'") else team %}
    {%- set gd = 'c.' ~ dept if not dept.startswith("'") else dept %}
    {#- PostgreSQL refuses a text constant in GROUP BY: group by the real columns only -#}
    {%- set grouped = ['p.period_type', 'p.period_start'] + ([g, gt, gd] | reject('equalto', "'*'") | list) %}
    select
        p.period_type, p.period_start, {{ g }} as kind, {{ gt }} as owner_team, {{ gd }} as department,
        'time_to_acknowledge_days' as kpi,
        sum(case when c.opened_on between p.period_start and p.cutoff_date and c.acknowledged_on <= p.cutoff_date
                 then {{ dbt.datediff('c.opened_on', 'c.acknowledged_on', 'day') }} end) as numerator,
        sum(case when c.opened_on between p.period_start and p.cutoff_date and c.acknowledged_on <= p.cutoff_date
                 then 1 else 0 end) as denominator
    from periods as p cross join cases as c
    group by {{ grouped | join(', ') }}
    union all
    select
        p.period_type, p.period_start, {{ g }}, {{ gt }}, {{ gd }},
        'time_to_verified_closure_days',
        sum(case when c.closed_at between p.period_start and p.cutoff_date
                 then {{ dbt.datediff('c.episode_started_on', 'c.closed_at', 'day') }} end),
        sum(case when c.closed_at between p.period_start and p.cutoff_date then 1 else 0 end)
    from periods as p cross join cases as c
    group by {{ grouped | join(', ') }}
    union all
    select
        p.period_type, p.period_start, {{ g }}, {{ gt }}, {{ gd }},
        'closed_within_sla',
        sum(case when c.closed_at between p.period_start and p.cutoff_date and c.closed_at <= c.due_by then 1 else 0 end),
        sum(case when c.closed_at between p.period_start and p.cutoff_date then 1 else 0 end)
    from periods as p cross join cases as c
    group by {{ grouped | join(', ') }}
    union all
    select
        p.period_type, p.period_start, {{ g }}, {{ gt }}, {{ gd }},
        'cross_department_completion',
        sum(case when c.kpi_due_by between p.period_start and p.cutoff_date and c.closed_at <= c.kpi_due_by then 1 else 0 end),
        sum(case when c.kpi_due_by between p.period_start and p.cutoff_date then 1 else 0 end)
    from periods as p cross join {{ ref('fct_response_work_units') }} as c
    where c.is_cross_department
    group by {{ grouped | join(', ') }}
    union all
    select
        p.period_type, p.period_start, {{ g }}, {{ gt }}, {{ gd }},
        'risk_events_per_1000_employees',
        sum(case when c.opened_on between p.period_start and p.cutoff_date then 1 else 0 end),
        max(population.n_employees)
    from periods as p cross join cases as c cross join population
    group by {{ grouped | join(', ') }}
    union all
    select
        p.period_type, p.period_start, {{ g }}, {{ gt }}, {{ gd }},
        'risk_events_per_1000_accounts',
        sum(case when c.opened_on between p.period_start and p.cutoff_date then 1 else 0 end),
        max(population.n_accounts)
    from periods as p cross join cases as c cross join population
    group by {{ grouped | join(', ') }}
    union all
    select
        p.period_type, p.period_start, {{ g }}, {{ gt }}, {{ gd }},
        'cases_open',
        sum(case when c.status <> 'closed_verified' then 1 else 0 end),
        null
    from periods as p cross join cases as c
    where p.cutoff_date = {{ run_date_sql() }} and p.period_type <> 'baseline'
    group by {{ grouped | join(', ') }}
    union all
    select
        p.period_type, p.period_start, {{ g }}, {{ gt }}, {{ gd }},
        'cases_overdue',
        sum(case when c.is_overdue then 1 else 0 end),
        null
    from periods as p cross join cases as c
    where p.cutoff_date = {{ run_date_sql() }} and p.period_type <> 'baseline'
    group by {{ grouped | join(', ') }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select
    cast(measured.kpi as {{ t }}) as kpi,
    cast(measured.period_type as {{ t }}) as period_type,
    cast(measured.period_start as date) as period_start,
    cast(periods.period_end as date) as period_end,
    cast(periods.period_label as {{ t }}) as period_label,
    cast(periods.cutoff_date as date) as cutoff_date,
    cast(measured.kind as {{ t }}) as kind,
    cast(measured.owner_team as {{ t }}) as owner_team,
    cast(measured.department as {{ t }}) as department,
    cast(coalesce(measured.numerator, 0) as decimal(18,4)) as numerator,
    cast(measured.denominator as {{ dbt.type_int() }}) as denominator,
    cast(case
        when measured.kpi in ('cases_open', 'cases_overdue') then coalesce(measured.numerator, 0)
        when measured.kpi like 'risk_events_per_1000_%' and measured.denominator > 0
            then coalesce(measured.numerator, 0) * 1000.0 / measured.denominator
        when measured.denominator > 0 then coalesce(measured.numerator, 0) * 1.0 / measured.denominator
    end as decimal(18,4)) as value,
    {{ run_date_sql() }} as as_of_date
from measured
inner join periods
    on measured.period_type = periods.period_type
    and measured.period_start = periods.period_start
