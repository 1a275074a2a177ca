-- One row per (person_key, due_date) of the current handling plan (fct_complainant_handling)
-- that is settled by run_date: each contact the plan called for, and whether it was made in
-- time. The plan starts at plan_start_date (tier entry, or the last contact before go-live); each contact that keeps the cadence (on a later day)
-- starts the next interval. due_date = interval start + contact_every_days; made_on = the first
-- kept contact after the interval start; on time when made_on <= due_date. A due contact counts
-- once it was made or its due day has passed: due on run_date and not made yet is still in time
-- (it is fct_complainant_handling.next_contact_due). Feeds the contact_cadence_kept KPI per tier.
-- Incremental, never rebuilt by a full refresh: a due contact is kept as it settled, with the tier
-- of the plan it belonged to, after the person leaves the tier or is re-planned, so a complete
-- period keeps its figures (a late contact still fills in made_on).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['person_key', 'due_date'],
        on_schema_change='append_new_columns',
        full_refresh=false
    )
}}

with plans as (

    select person_key, tier, contact_every_days, plan_start_date
    from {{ ref('fct_complainant_handling') }}

),

kept as (

    select distinct person_key, contacted_date
    from {{ ref('int_complainants__contacts') }}
    where keeps_cadence

),

anchors as (

    select person_key, plan_start_date as anchor_date from plans
    union
    select kept.person_key, kept.contacted_date
    from kept
    inner join plans
        on kept.person_key = plans.person_key
        and kept.contacted_date > plans.plan_start_date

),

intervals as (

    select
        anchors.person_key,
        plans.tier,
        anchors.anchor_date,
        {{ dbt.cast(dbt.dateadd('day', 'plans.contact_every_days', 'anchors.anchor_date'), 'date') }} as due_date,
        (select min(k.contacted_date) from kept as k
         where k.person_key = anchors.person_key and k.contacted_date > anchors.anchor_date) as made_on
    from anchors
    inner join plans
        on anchors.person_key = plans.person_key

)

select
    person_key,
    tier,
    anchor_date,
    due_date,
    made_on,
    made_on is not null and made_on <= due_date as is_on_time,
    {{ run_date_sql() }} as as_of_date
from intervals
where (made_on is not null and made_on <= {{ run_date_sql() }})
   or due_date < {{ run_date_sql() }}
