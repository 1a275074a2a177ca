-- Published (contract enforced): the key-complainant handling plans (rule CT-02, fct_complainant_handling).
-- One row per person in a tier that needs handling: linked ids, tier, handling group, cadence,
-- tier entry (go-live or new plan), last kept contact, next contact due and whether it is overdue.
-- alert_key ('CT-02:<person_key>:<next_contact_due>') is stable while the plan waits for the same
-- contact, so a missed contact is alerted once.
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
{%- set b = dbt.type_boolean() %}
select
    cast({{ dbt.concat(["'CT-02:'", 'person_key', "':'", dbt.cast('next_contact_due', t)]) }} as {{ t }}) as alert_key,
    cast(person_key as {{ t }}) as person_key,
    cast(complainant_ids as {{ t }}) as complainant_ids,
    cast(n_complainant_ids as {{ i }}) as n_complainant_ids,
    cast(insider_link as {{ b }}) as insider_link,
    cast(tier as {{ t }}) as tier,
    cast(total_points as {{ i }}) as total_points,
    cast(handling_group as {{ t }}) as handling_group,
    cast(contact_every_days as {{ i }}) as contact_every_days,
    cast(legal_linkage as {{ b }}) as legal_linkage,
    cast(tier_entered_on as date) as tier_entered_on,
    cast(is_go_live as {{ b }}) as is_go_live,
    cast(is_new_plan as {{ b }}) as is_new_plan,
    cast(last_contact_date as date) as last_contact_date,
    cast(last_handler_id as {{ t }}) as last_handler_id,
    cast(next_contact_due as date) as next_contact_due,
    cast(days_to_contact_due as {{ i }}) as days_to_contact_due,
    cast(is_contact_overdue as {{ b }}) as is_contact_overdue,
    cast('CT-02' as {{ t }}) as rule_id,
    cast(policy_version as {{ t }}) as policy_version,
    cast(as_of_date as date) as as_of_date
from {{ ref('fct_complainant_handling') }}
