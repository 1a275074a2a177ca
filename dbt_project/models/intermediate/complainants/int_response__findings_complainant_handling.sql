-- One row per (subject_id, item): findings of kind complainant_handling for the cases model, in
-- its finding shape. From fct_complainant_handling (persons in a tier that needs handling):
--   contact_plan     every plan; detected on tier entry (the go-live population on night 1)
--   legal_linkage    tiers whose seed row says legal_linkage (high): an item for Legal
--   missed_contact   the due contact was not made: detected the day after next_contact_due
-- severity is the tier (high / medium); a missed contact is high whatever the tier.
with plans as (

    select * from {{ ref('fct_complainant_handling') }}

),

items as (

    select person_key, tier as severity, tier_entered_on as detected_on,
        '{{ var("complainant_case_owner_team") }}' as owner_team, 'contact_plan' as item
    from plans

    union all

    select person_key, tier, tier_entered_on, '{{ var("complainant_legal_owner_team") }}', 'legal_linkage'
    from plans
    where legal_linkage

    union all

    select person_key, 'high', {{ dbt.cast(dbt.dateadd('day', 1, 'next_contact_due'), 'date') }},
        '{{ var("complainant_case_owner_team") }}', 'missed_contact'
    from plans
    where is_contact_overdue

)

select
    {{ dbt.cast("'complainant_handling'", dbt.type_string()) }} as kind,
    {{ dbt.cast("'complainant'", dbt.type_string()) }} as subject_type,
    {{ dbt.cast('person_key', dbt.type_string()) }} as subject_id,
    {{ dbt.cast('severity', dbt.type_string()) }} as severity,
    {{ dbt.cast('detected_on', 'date') }} as detected_on,
    {{ dbt.cast('owner_team', dbt.type_string()) }} as owner_team,
    {{ dbt.cast('null', dbt.type_string()) }} as department,
    {{ dbt.cast("'" ~ var('complainant_case_owner_team') ~ "'", dbt.type_string()) }} as detected_by_team,
    {{ dbt.cast('item', dbt.type_string()) }} as item
from items
