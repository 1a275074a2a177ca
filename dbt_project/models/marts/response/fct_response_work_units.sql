-- One row per unit of response work, as of run_date: each single-item case of fct_cases, and each
-- item of a multi-item case (fct_case_items: a leaver's departure plan). What the
-- cross_department_completion KPI counts (fct_response_kpis; docs/cases.md, "Response KPIs"). A
-- drill's case is no unit of work.
--   is_cross_department  owned by a team other than the one whose feed detected it
--   kpi_due_by           the due date measured from Vigil's opening: the later of due_by and
--                        opened_on + sla_days. An item whose condition began before Vigil opened it
--                        (the go-live population, a leaver HR reported late) is due sla_days after
--                        the night its owner was told, never earlier; a new finding (detected the
--                        night it is opened) and a reopened episode keep due_by.
--   within_sla           verified closed on or before kpi_due_by (null while open)
{%- set t = dbt.type_string() %}
with cases as (

    select case_id, kind, owner_team, coalesce(department, 'unassigned') as department, detected_by_team,
        opened_on, due_by, sla_days, closed_at
    from {{ ref('fct_cases') }}
    where not {{ is_drill('subject_id') }}  -- a drill's case (and its items) never counts (docs/drills.md)

),

items as (

    select case_id, item, owner_team, detected_by_team, opened_on, due_by, sla_days, closed_at
    from {{ ref('fct_case_items') }}

),

units as (

    select case_id, {{ dbt.cast('null', t) }} as item, kind, owner_team, department, detected_by_team,
        opened_on, due_by, sla_days, closed_at
    from cases
    where not exists (select 1 from items where items.case_id = cases.case_id)
    union all
    select items.case_id, items.item, cases.kind, items.owner_team, cases.department, items.detected_by_team,
        items.opened_on, items.due_by, items.sla_days, items.closed_at
    from items
    inner join cases
        on items.case_id = cases.case_id

),

measured as (

    select
        units.*,
        {{ dbt.cast(dbt.dateadd('day', 'coalesce(units.sla_days, 0)', 'units.opened_on'), 'date') }} as due_from_opening
    from units

)

select
    cast(case_id as {{ t }}) as case_id,
    cast(item as {{ t }}) as item,
    cast(kind as {{ t }}) as kind,
    cast(owner_team as {{ t }}) as owner_team,
    cast(department as {{ t }}) as department,
    cast(detected_by_team as {{ t }}) as detected_by_team,
    cast(owner_team <> detected_by_team as {{ dbt.type_boolean() }}) as is_cross_department,
    cast(opened_on as date) as opened_on,
    cast(due_by as date) as due_by,
    cast(sla_days as {{ dbt.type_int() }}) as sla_days,
    cast(case when due_by < due_from_opening then due_from_opening else due_by end as date) as kpi_due_by,
    cast(closed_at as date) as closed_at,
    cast(case
        when closed_at is not null then closed_at <= (case when due_by < due_from_opening then due_from_opening else due_by end)
    end as {{ dbt.type_boolean() }}) as within_sla,
    {{ run_date_sql() }} as as_of_date
from measured
