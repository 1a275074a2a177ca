-- Published (contract enforced): the departure-risk watchlist (rule DR-01). One row per active
-- employee_id at tier high or medium on run_date, with the signals behind the score, the business
-- impact and the tier on the previous run date in fct_departure_risk_history (previous_tier null:
-- not an active employee then, or no earlier run). review_key ('DR-01:<employee_id>') is stable
-- across nights. No PII, no ratings.
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
with risk as (

    select * from {{ ref('fct_departure_risk') }}
    where tier in ('high', 'medium')

),

history as (

    select * from {{ ref('fct_departure_risk_history') }}

),

previous_slice as (

    {{ previous_run_slice('history', ['employee_id', 'tier', 'as_of_date']) }}

)

select
    cast({{ dbt.concat(["'DR-01:'", 'risk.employee_id']) }} as {{ t }}) as review_key,
    cast(risk.employee_id as {{ t }}) as employee_id,
    cast(risk.department as {{ t }}) as department,
    cast(risk.position as {{ t }}) as position,
    cast(risk.tier as {{ t }}) as tier,
    cast(previous_slice.tier as {{ t }}) as previous_tier,
    cast(previous_slice.as_of_date as date) as previous_as_of_date,
    cast(risk.score as decimal(10,2)) as score,
    cast(risk.base_points as decimal(10,2)) as base_points,
    cast(risk.impact_multiplier as decimal(10,2)) as impact_multiplier,
    cast(risk.n_signals as {{ i }}) as n_signals,
    cast(risk.has_performance_drop as {{ dbt.type_boolean() }}) as has_performance_drop,
    cast(risk.has_recent_job_change as {{ dbt.type_boolean() }}) as has_recent_job_change,
    cast(risk.has_demotion as {{ dbt.type_boolean() }}) as has_demotion,
    cast(risk.last_job_change_date as date) as last_job_change_date,
    cast(risk.has_contract_ending as {{ dbt.type_boolean() }}) as has_contract_ending,
    cast(risk.contract_end_date as date) as contract_end_date,
    cast(risk.has_given_notice as {{ dbt.type_boolean() }}) as has_given_notice,
    cast(risk.notice_date as date) as notice_date,
    cast(risk.has_manager_left as {{ dbt.type_boolean() }}) as has_manager_left,
    cast(risk.manager_termination_date as date) as manager_termination_date,
    cast(risk.n_clients as {{ i }}) as n_clients,
    cast(risk.clients_aum as decimal(18,2)) as clients_aum,
    cast(risk.has_privileged_access as {{ dbt.type_boolean() }}) as has_privileged_access,
    cast('DR-01' as {{ t }}) as rule_id,
    cast(risk.policy_version as {{ t }}) as policy_version,
    cast(risk.as_of_date as date) as as_of_date
from risk
left join previous_slice
    on risk.employee_id = previous_slice.employee_id
