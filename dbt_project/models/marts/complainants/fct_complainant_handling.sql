-- One row per person (fct_complainant_persons) in a tier that needs handling
-- (complainant_handling_tiers: high, medium), as of run_date: the handling plan of the
-- key-complainant policy.
--   tier_entered_on     the first run date of the person's current run of nights in this tier
--                       (fct_complainant_person_tier_history; a night without the person, or at
--                       another tier, ends a run), so a tier move re-plans the cadence
--   is_go_live          the person was in this tier on the first night Vigil tiered: the go-live
--                       population, planned from night 1 (one digest, not one alert each)
--   last_contact_date   the latest contact that keeps the cadence (complainant_contact_outcomes_kept)
--                       with any of the person's complainant_ids, on or before run_date
--   plan_start_date     tier_entered_on; for the go-live population the last kept contact before
--                       go-live when there is one (the bank's contact history carries on: a person
--                       last called 10 days before go-live is already overdue at high)
--   next_contact_due    the later of last_contact_date and plan_start_date, + contact_every_days
--                       (seed complainant_tier_handling: high 7, medium 14)
--   is_contact_overdue  run_date is after next_contact_due (a contact on the due day is on time:
--                       due on run_date is not overdue, due yesterday is)
with persons as (

    select * from {{ ref('fct_complainant_persons') }}
    where needs_handling

),

history as (

    select as_of_date, person_key, tier
    from {{ ref('fct_complainant_person_tier_history') }}
    where as_of_date <= {{ run_date_sql() }}

),

slice_dates as (

    select distinct as_of_date from history

),

in_tier as (

    select history.person_key, history.as_of_date
    from history
    inner join persons
        on history.person_key = persons.person_key
        and history.tier = persons.tier

),

last_out as (

    -- the latest night the person was not in the current tier (absent or another tier)
    select persons.person_key, max(slice_dates.as_of_date) as last_out_date
    from persons
    cross join slice_dates
    left join in_tier
        on in_tier.person_key = persons.person_key
        and in_tier.as_of_date = slice_dates.as_of_date
    where in_tier.as_of_date is null
    group by persons.person_key

),

entered as (

    select in_tier.person_key, min(in_tier.as_of_date) as tier_entered_on
    from in_tier
    left join last_out
        on in_tier.person_key = last_out.person_key
    where last_out.last_out_date is null or in_tier.as_of_date > last_out.last_out_date
    group by in_tier.person_key

),

contacts as (

    select * from {{ ref('int_complainants__contacts') }}

),

kept as (

    select person_key, max(contacted_date) as last_contact_date
    from contacts
    where keeps_cadence
    group by person_key

),

latest_contact as (

    select person_key, outcome, channel, handler_id, contacted_date,
        row_number() over (partition by person_key order by contacted_at desc, contact_id desc) as contact_rank
    from contacts

),

first_slice as (

    select min(as_of_date) as first_slice_date from slice_dates

),

planned as (

    select
        persons.*,
        coalesce(entered.tier_entered_on, {{ run_date_sql() }}) as tier_entered_on,
        coalesce(entered.tier_entered_on, {{ run_date_sql() }}) = (select first_slice_date from first_slice) as is_go_live,
        kept.last_contact_date,
        latest_contact.contacted_date as last_attempt_date,
        latest_contact.outcome as last_attempt_outcome,
        latest_contact.handler_id as last_handler_id
    from persons
    left join entered
        on persons.person_key = entered.person_key
    left join kept
        on persons.person_key = kept.person_key
    left join latest_contact
        on persons.person_key = latest_contact.person_key
        and latest_contact.contact_rank = 1

),

started as (

    select
        planned.*,
        case
            when is_go_live then coalesce(
                (select max(k.contacted_date) from contacts as k
                 where k.person_key = planned.person_key and k.keeps_cadence and k.contacted_date <= planned.tier_entered_on),
                tier_entered_on)
            else tier_entered_on
        end as plan_start_date
    from planned

),

due as (

    select
        started.*,
        case
            when last_contact_date is not null and last_contact_date > plan_start_date then last_contact_date
            else plan_start_date
        end as plan_anchor_date
    from started

),

dated as (

    select
        due.*,
        {{ dbt.cast(dbt.dateadd('day', 'contact_every_days', 'plan_anchor_date'), 'date') }} as next_contact_due
    from due

)

select
    dated.as_of_date,
    dated.person_key,
    dated.complainant_ids,
    dated.n_complainant_ids,
    dated.is_linked,
    dated.insider_link,
    dated.tier,
    dated.total_points,
    dated.handling_group,
    dated.contact_every_days,
    dated.legal_linkage,
    dated.tier_entered_on,
    dated.is_go_live,
    dated.tier_entered_on = {{ run_date_sql() }} as is_new_plan,
    dated.last_contact_date,
    dated.last_attempt_date,
    dated.last_attempt_outcome,
    dated.last_handler_id,
    dated.plan_start_date,
    dated.plan_anchor_date,
    dated.next_contact_due,
    {{ dbt.cast(dbt.datediff(run_date_sql(), 'dated.next_contact_due', 'day'), dbt.type_int()) }} as days_to_contact_due,
    {{ run_date_sql() }} > dated.next_contact_due as is_contact_overdue,
    dated.policy_version
from dated
