-- Published (contract enforced): complainant risk tier movements for alerts (rule CT-01). One row
-- per complainant_id whose tier moved between the previous run date in
-- fct_complainant_risk_tier_history and run_date (absent = low), with the handling of the new
-- tier. alert_key ('CT-01:<complainant_id>:<as_of_date>') is unique per movement.
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
with changes as (

    select * from {{ ref('fct_complainant_risk_tier_changes') }}

),

handling as (

    select * from {{ ref('complainant_tier_handling') }}

)

select
    cast({{ dbt.concat(["'CT-01:'", 'changes.complainant_id', "':'", dbt.cast('changes.as_of_date', t)]) }} as {{ t }}) as alert_key,
    cast(changes.complainant_id as {{ t }}) as complainant_id,
    cast(changes.previous_tier as {{ t }}) as previous_tier,
    cast(changes.current_tier as {{ t }}) as current_tier,
    cast(changes.direction as {{ t }}) as direction,
    cast(changes.previous_points as {{ i }}) as previous_points,
    cast(changes.current_points as {{ i }}) as current_points,
    cast(changes.in_current_slice as {{ dbt.type_boolean() }}) as is_tiered,
    cast(handling.recommended_handling as {{ t }}) as recommended_handling,
    cast(changes.previous_as_of_date as date) as previous_as_of_date,
    cast('CT-01' as {{ t }}) as rule_id,
    cast(changes.policy_version as {{ t }}) as policy_version,
    cast(changes.as_of_date as date) as as_of_date
from changes
left join handling
    on coalesce(changes.current_tier, 'low') = handling.tier
