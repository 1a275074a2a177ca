-- One row per contact_id: each contact with a key complainant dated on or before run_date, with
-- the person it reached, from two sources (docs/cases.md, "Contacts"):
--   complaints  the complaints system's contact log (complaints__contacts, optional table): the
--               latest delivery of each contact_id (contact_id as delivered)
--   cases       the ITSM's `contacted` events (cases feed, optional) on a person's
--               complainant_handling case, named by case_id or by an itsm_ref tied to it
--               (int_response__case_events_resolved): contact_id 'cases:' + event_id, the actor as
--               handler. The case is the person's: 'VCS-' + md5(complainant_handling|complainant|
--               person_key), the id the response loop gives it (macro response_case_id)
-- keeps_cadence: the outcome is one of complainant_contact_outcomes_kept (reached, left_message);
-- an unanswered call is logged but does not count as the due contact. A `contacted` event without
-- an outcome keeps it too (the ITSM logged a contact, not its result); any other outcome does not.
-- A `contacted` event that went backwards (an earlier delivery already held a later event of the same
-- case: int_response__case_events_resolved.went_backwards) is no contact: the response loop
-- quarantines it (fct_case_event_quarantine) and it counts nowhere. One quarantined as before_opened
-- still counts: the case's opening depends on the handling plans these contacts feed (docs/cases.md).
-- The same contact logged in both sources on one day counts once: the cadence reads (person, day)
-- (fct_complainant_contact_dues, fct_complainant_handling).
{%- set kept = var('complainant_contact_outcomes_kept') %}
{%- set kept_sql %}({% for o in kept %}'{{ o }}'{% if not loop.last %}, {% endif %}{% endfor %}){% endset %}
with contacts as (

    select
        *,
        row_number() over (partition by contact_id order by _feed_date desc, _source_line desc) as version_rank
    from {{ ref('stg_complaints__contacts') }}

),

persons as (

    select complainant_id, person_key from {{ ref('int_complainants__persons') }}

),

handling_cases as (

    select distinct
        person_key,
        {{ response_case_id("'complainant_handling'", "'complainant'", 'person_key') }} as case_id
    from persons

),

logged as (

    select
        contacts.contact_id,
        contacts.complainant_id,
        coalesce(persons.person_key, contacts.complainant_id) as person_key,
        contacts.contacted_at,
        contacts.channel,
        contacts.outcome,
        contacts.outcome in {{ kept_sql }} as keeps_cadence,
        contacts.handler_id,
        'complaints' as source,
        contacts._feed_date,
        contacts._source_file,
        contacts._source_line
    from contacts
    left join persons
        on contacts.complainant_id = persons.complainant_id
    where contacts.version_rank = 1

),

from_cases as (

    select
        {{ dbt.concat(["'cases:'", 'events.event_id']) }} as contact_id,
        handling_cases.person_key as complainant_id,
        handling_cases.person_key,
        events.event_at as contacted_at,
        events.channel,
        events.outcome,
        (events.outcome is null or events.outcome in {{ kept_sql }}) as keeps_cadence,
        events.actor_id as handler_id,
        'cases' as source,
        events._feed_date,
        events._source_file,
        events._source_line
    from {{ ref('int_response__case_events_resolved') }} as events
    inner join handling_cases
        on events.resolved_case_id = handling_cases.case_id
    where events.event = 'contacted'
      and not events.went_backwards

),

unioned as (

    select * from logged
    union all
    select * from from_cases

)

select
    {{ dbt.cast('contact_id', dbt.type_string()) }} as contact_id,
    complainant_id,
    person_key,
    contacted_at,
    {{ utc_date('contacted_at') }} as contacted_date,
    channel,
    outcome,
    keeps_cadence,
    handler_id,
    {{ dbt.cast('source', dbt.type_string()) }} as source,
    _feed_date,
    _source_file,
    _source_line
from unioned
where {{ utc_date('contacted_at') }} <= {{ run_date_sql() }}
