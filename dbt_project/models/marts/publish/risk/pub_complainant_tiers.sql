-- Published (contract enforced): the key-complainant list (rule CT-01). One row per complainant_id
-- tiered on run_date (a complaint in the trailing window or an overdue unresolved complaint), with
-- the factors, the recommended handling of the tier and the tier of the previous run date in
-- fct_complainant_risk_tier_history (previous_tier null: not tiered then, or no earlier run).
-- review_key ('CT-01:<complainant_id>') is stable across nights. No PII: ids, counts, flags only.
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
with tiers as (

    select * from {{ ref('fct_complainant_risk_tiers') }}

),

history as (

    select * from {{ ref('fct_complainant_risk_tier_history') }}

),

previous_slice as (

    {{ previous_run_slice('history', ['complainant_id', 'tier', 'as_of_date']) }}

)

select
    cast({{ dbt.concat(["'CT-01:'", 'tiers.complainant_id']) }} as {{ t }}) as review_key,
    cast(tiers.complainant_id as {{ t }}) as complainant_id,
    cast(tiers.client_id as {{ t }}) as client_id,
    cast(tiers.tier as {{ t }}) as tier,
    cast(previous_slice.tier as {{ t }}) as previous_tier,
    cast(previous_slice.as_of_date as date) as previous_as_of_date,
    cast(tiers.total_points as {{ i }}) as total_points,
    cast(tiers.points_frequency as {{ i }}) as points_frequency,
    cast(tiers.points_severity as {{ i }}) as points_severity,
    cast(tiers.points_insider as {{ i }}) as points_insider,
    cast(tiers.points_escalation as {{ i }}) as points_escalation,
    cast(tiers.points_overdue as {{ i }}) as points_overdue,
    cast(tiers.n_complaints_window as {{ i }}) as n_complaints_window,
    cast(tiers.is_repeat_complainant as {{ dbt.type_boolean() }}) as is_repeat_complainant,
    cast(tiers.worst_severity as {{ t }}) as worst_severity,
    cast(tiers.has_insider_link as {{ dbt.type_boolean() }}) as has_insider_link,
    cast(tiers.n_external_escalations_window as {{ i }}) as n_external_escalations_window,
    cast(tiers.n_open_past_deadline as {{ i }}) as n_open_past_deadline,
    cast(tiers.last_received_date_window as date) as last_received_date,
    cast(tiers.handling_group as {{ t }}) as handling_group,
    cast(tiers.recommended_handling as {{ t }}) as recommended_handling,
    cast(tiers.contact_every_days as {{ i }}) as contact_every_days,
    cast(tiers.legal_linkage as {{ dbt.type_boolean() }}) as legal_linkage,
    cast('CT-01' as {{ t }}) as rule_id,
    cast(tiers.policy_version as {{ t }}) as policy_version,
    cast(tiers.as_of_date as date) as as_of_date
from tiers
left join previous_slice
    on tiers.complainant_id = previous_slice.complainant_id
