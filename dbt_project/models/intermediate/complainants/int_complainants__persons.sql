-- One row per complainant_id known on or before run_date (a complainant record, or only a
-- complaint naming the id): the person it belongs to.
-- One person, one complainant: complainant_ids whose national-id tokens are equal are one person
-- (tokens are keyed HMACs of the normalised id, so equal tokens mean the same id, and equality is
-- all Vigil uses). person_key is the smallest complainant_id of the person: stable, readable, and
-- no token ever leaves the warehouse as a key. An id without a national id is a person of its own.
-- insider_by_token: the complainant's national-id token equals an employee's (any roster row of
-- the latest HR snapshot, leavers included). The HR feed pseudonymises national_id and email but
-- carries no phone, so phone tokens cannot be matched against staff (docs/models.md).
with known_ids as (

    select complainant_id from {{ ref('int_complainants__latest_versions') }}
    union
    select complainant_id from {{ ref('int_complaints__latest_versions') }}
    where complainant_id is not null

),

complainants as (

    select
        known_ids.complainant_id,
        records.national_id_token,
        records.insider_link
    from known_ids
    left join {{ ref('int_complainants__latest_versions') }} as records
        on known_ids.complainant_id = records.complainant_id

),

employee_tokens as (

    select distinct national_id_token
    from {{ ref('stg_hr__employees') }}
    where national_id_token is not null

),

keyed as (

    select
        complainants.complainant_id,
        complainants.national_id_token,
        coalesce(complainants.insider_link, false) as insider_link_in_feed,
        employee_tokens.national_id_token is not null as insider_by_token,
        case
            when complainants.national_id_token is null then complainants.complainant_id
            else min(complainants.complainant_id) over (partition by complainants.national_id_token)
        end as person_key
    from complainants
    left join employee_tokens
        on complainants.national_id_token = employee_tokens.national_id_token

)

select
    keyed.complainant_id,
    keyed.person_key,
    {{ dbt.cast('count(*) over (partition by keyed.person_key)', dbt.type_int()) }} as n_complainant_ids,
    keyed.insider_link_in_feed,
    keyed.insider_by_token,
    keyed.insider_link_in_feed or keyed.insider_by_token as insider_link,
    {{ run_date_sql() }} as as_of_date
from keyed
