{#-
    The response loop's shared SQL (docs/cases.md). Every finding model of
    intermediate/response/ ends with response_finding('found'): the same columns in the same
    order and types, whatever the kind, so int_response__findings is a plain union.
    `found` has: kind, subject_type, subject_id, severity, detected_on, department, item,
    item_owner_team (null: the case's owner).
-#}
{% macro response_finding(relation) -%}
{%- set t = dbt.type_string() %}
select
    cast(found.kind as {{ t }}) as kind,
    cast(found.subject_type as {{ t }}) as subject_type,
    cast(found.subject_id as {{ t }}) as subject_id,
    cast(found.severity as {{ t }}) as severity,
    cast(found.detected_on as date) as detected_on,
    -- 'department' in the policy: the business line of the subject owns it
    cast(case
        when coalesce(found.item_owner_team, policy.owner_team) = 'department'
            then coalesce(found.department, 'unassigned')
        else coalesce(found.item_owner_team, policy.owner_team, 'compliance')
    end as {{ t }}) as owner_team,
    cast(found.department as {{ t }}) as department,
    cast(coalesce(policy.detected_by_team, 'compliance') as {{ t }}) as detected_by_team,
    cast(found.item as {{ t }}) as item
from {{ relation }} as found
left join {{ ref('case_policy') }} as policy
    on found.kind = policy.kind
    and found.severity = policy.severity
{%- endmacro %}

{#- A rule's priority as a case severity: P1 high, P2 medium, anything else low. -#}
{% macro severity_of(priority) -%}
    case {{ priority }} when 'P1' then 'high' when 'P2' then 'medium' else 'low' end
{%- endmacro %}

{#-
    Episodes of presence: `relation` has one row per (keys..., as_of_date) on which a case (or a
    case item) was found. Nights are int_response__case_nights: the published run dates up to
    run_date, and run_date (a backfill of an earlier night sees only the nights before it; the
    slice of a held night that was never published is no night). An episode is an unbroken run
    of nights with the finding; one row per episode: opened_on (the key's first night ever),
    started_on, last_seen_on, closed_on (the first night after last_seen_on: the night whose data
    showed the condition gone; null while open), episode_no (1 = first), n_episodes, is_latest.
-#}
{% macro response_episodes(relation, keys, where='true') -%}
{%- set k = keys | join(', ') %}
with nights as (

    select as_of_date, row_number() over (order by as_of_date) as night_no
    from {{ ref('int_response__case_nights') }}

),

presence as (

    select distinct {% for c in keys %}p.{{ c }}, {% endfor %}p.as_of_date, nights.night_no
    from {{ relation }} as p
    inner join nights
        on p.as_of_date = nights.as_of_date
    where {{ where }}

),

islands as (

    select
        presence.*,
        night_no - row_number() over (partition by {{ k }} order by night_no) as island
    from presence

),

episodes as (

    select
        {{ k }},
        island,
        min(as_of_date) as started_on,
        max(as_of_date) as last_seen_on,
        max(night_no) as last_night_no
    from islands
    group by {{ k }}, island

),

numbered as (

    select
        episodes.*,
        row_number() over (partition by {{ k }} order by started_on) as episode_no,
        count(*) over (partition by {{ k }}) as n_episodes,
        min(started_on) over (partition by {{ k }}) as opened_on
    from episodes

)

select
    {% for c in keys %}numbered.{{ c }}, {% endfor %}
    numbered.opened_on,
    numbered.started_on,
    numbered.last_seen_on,
    next_night.as_of_date as closed_on,
    {{ dbt.cast('numbered.episode_no', dbt.type_int()) }} as episode_no,
    {{ dbt.cast('numbered.n_episodes', dbt.type_int()) }} as n_episodes,
    numbered.episode_no = numbered.n_episodes as is_latest
from numbered
left join nights as next_night
    on next_night.night_no = numbered.last_night_no + 1
{%- endmacro %}


{#- A case finding per published access exception of one kind (pub_access_exceptions, whose
    exception_id is '<rule>:<subject>'): the subject is what the rule names, the department the
    employee's (for the case owner 'department'). One macro for the four access kinds. -#}
{% macro access_exception_finding(kind, rule_id, subject_type) -%}
with found as (

    select
        '{{ kind }}' as kind,
        '{{ subject_type }}' as subject_type,
        replace(exceptions.exception_id, '{{ rule_id }}:', '') as subject_id,
        {{ severity_of('exceptions.priority') }} as severity,
        exceptions.as_of_date as detected_on,
        employees.department,
        cast(null as {{ dbt.type_string() }}) as item,
        cast(null as {{ dbt.type_string() }}) as item_owner_team
    from {{ ref('pub_access_exceptions') }} as exceptions
    left join {{ ref('int_employees__with_status') }} as employees
        on exceptions.employee_id = employees.employee_id
    where exceptions.exception_kind = '{{ kind }}'

)

{{ response_finding('found') }}
{%- endmacro %}

{#-
    A case's deterministic id (docs/cases.md): 'VCS-' + md5(kind|subject_type|subject_id), plus
    |detected_on for a leaver (a rehired employee who leaves again is a new case). The arguments
    are SQL expressions (columns or quoted literals). int_response__finding_history gives every
    finding its id with it; int_complainants__contacts finds the complainant_handling case of a
    person with it (the ITSM's `contacted` events name that id).
-#}
{% macro response_case_id(kind, subject_type, subject_id, detected_on='null') -%}
{%- set t = dbt.type_string() -%}
cast({{ dbt.concat(["'VCS-'", "md5(" ~ dbt.concat([
        kind, "'|'", subject_type, "'|'", subject_id,
        "case when " ~ kind ~ " = 'leaver' then " ~ dbt.concat(["'|'", dbt.cast(detected_on, t)]) ~ " else '' end"]) ~ ")"]) }} as {{ t }})
{%- endmacro %}
