-- Published (contract enforced): departure-risk tier movements for alerts (rule DR-01). One row
-- per employee_id whose tier moved between the previous run date in fct_departure_risk_history and
-- run_date (absent = low). alert_key ('DR-01:<employee_id>:<as_of_date>') is unique per movement.
{%- set t = dbt.type_string() %}
with changes as (

    select * from {{ ref('fct_departure_risk_changes') }}

),

risk as (

    select employee_id, department, position from {{ ref('fct_departure_risk') }}

)

select
    cast({{ dbt.concat(["'DR-01:'", 'changes.employee_id', "':'", dbt.cast('changes.as_of_date', t)]) }} as {{ t }}) as alert_key,
    cast(changes.employee_id as {{ t }}) as employee_id,
    cast(risk.department as {{ t }}) as department,
    cast(risk.position as {{ t }}) as position,
    cast(changes.previous_tier as {{ t }}) as previous_tier,
    cast(changes.current_tier as {{ t }}) as current_tier,
    cast(changes.direction as {{ t }}) as direction,
    cast(changes.previous_score as decimal(10,2)) as previous_score,
    cast(changes.current_score as decimal(10,2)) as current_score,
    cast(changes.in_current_slice as {{ dbt.type_boolean() }}) as is_active_employee,
    cast(changes.previous_as_of_date as date) as previous_as_of_date,
    cast('DR-01' as {{ t }}) as rule_id,
    cast(changes.policy_version as {{ t }}) as policy_version,
    cast(changes.as_of_date as date) as as_of_date
from changes
left join risk
    on changes.employee_id = risk.employee_id
