-- One row per contact_id: the latest delivery of each contact with a complainant logged on or
-- before run_date (complaints__contacts, optional table), with the person it reached.
-- keeps_cadence: the outcome is one of complainant_contact_outcomes_kept (reached, left_message);
-- an unanswered call is logged but does not count as the due contact.
with contacts as (

    select
        *,
        row_number() over (partition by contact_id order by _feed_date desc, _source_line desc) as version_rank
    from {{ ref('stg_complaints__contacts') }}

),

persons as (

    select complainant_id, person_key from {{ ref('int_complainants__persons') }}

)

select
    contacts.contact_id,
    contacts.complainant_id,
    coalesce(persons.person_key, contacts.complainant_id) as person_key,
    contacts.contacted_at,
    {{ utc_date('contacts.contacted_at') }} as contacted_date,
    contacts.channel,
    contacts.outcome,
    contacts.outcome in ({% for o in var('complainant_contact_outcomes_kept') %}'{{ o }}'{% if not loop.last %}, {% endif %}{% endfor %}) as keeps_cadence,
    contacts.handler_id,
    contacts._feed_date,
    contacts._source_file,
    contacts._source_line
from contacts
left join persons
    on contacts.complainant_id = persons.complainant_id
where contacts.version_rank = 1
  and {{ utc_date('contacts.contacted_at') }} <= {{ run_date_sql() }}
