-- One row per person (person_key, int_complainants__persons) with at least one linked
-- complainant_id in the tiering population (int_complainants__risk_signals), as of run_date:
-- the person's combined history and points. Complaints of every linked id add up (a person who
-- files under two ids is a repeat complainant like one who files under one); the worst severity,
-- any escalation and any overdue complaint of any id count; the insider factor counts when the
-- feed says so for any id or Vigil found the person's national-id token on the HR roster.
-- Points and tiers use the same policy vars as fct_complainant_risk_tiers (CT-01).
with persons as (

    select * from {{ ref('int_complainants__persons') }}

),

signals as (

    select * from {{ ref('int_complainants__risk_signals') }}

),

per_person as (

    select
        persons.person_key,
        max(persons.n_complainant_ids) as n_complainant_ids,
        {{ dbt.listagg('persons.complainant_id', "', '", 'order by persons.complainant_id') }} as complainant_ids,
        max(case when persons.insider_link then 1 else 0 end) = 1 as insider_link,
        max(case when persons.insider_by_token then 1 else 0 end) = 1 as insider_by_token,
        sum(coalesce(signals.n_complaints_window, 0)) as n_complaints_window,
        max(case signals.worst_severity when 'high' then 3 when 'medium' then 2 when 'low' then 1 end) as worst_severity_rank,
        sum(coalesce(signals.n_external_escalations_window, 0)) as n_external_escalations_window,
        sum(coalesce(signals.n_open_past_deadline, 0)) as n_open_past_deadline,
        max(case when signals.complainant_id is not null then 1 else 0 end) = 1 as in_population
    from persons
    left join signals
        on persons.complainant_id = signals.complainant_id
    group by persons.person_key

),

pointed as (

    select
        per_person.*,
        case
            when n_complaints_window >= {{ var('complainant_repeat_threshold') }} then {{ var('complainant_points_repeat') }}
            when n_complaints_window = 2 then {{ var('complainant_points_two_complaints') }}
            else 0
        end as points_frequency,
        case worst_severity_rank
            when 3 then {{ var('complainant_points_severity_high') }}
            when 2 then {{ var('complainant_points_severity_medium') }}
            when 1 then {{ var('complainant_points_severity_low') }}
            else 0
        end as points_severity,
        case when insider_link then {{ var('complainant_points_insider') }} else 0 end as points_insider,
        case when n_external_escalations_window > 0 then {{ var('complainant_points_escalation') }} else 0 end as points_escalation,
        case when n_open_past_deadline > 0 then {{ var('complainant_points_overdue_open') }} else 0 end as points_overdue
    from per_person
    where in_population

),

scored as (

    select
        pointed.*,
        points_frequency + points_severity + points_insider + points_escalation + points_overdue as total_points
    from pointed

),

tiered as (

    select
        scored.*,
        case
            when total_points >= {{ var('complainant_tier_high') }} then 'high'
            when total_points >= {{ var('complainant_tier_medium') }} then 'medium'
            else 'low'
        end as tier
    from scored

)

select
    {{ run_date_sql() }} as as_of_date,
    tiered.person_key,
    tiered.complainant_ids,
    {{ dbt.cast('tiered.n_complainant_ids', dbt.type_int()) }} as n_complainant_ids,
    tiered.n_complainant_ids > 1 as is_linked,
    tiered.insider_link,
    tiered.insider_by_token,
    {{ dbt.cast('tiered.n_complaints_window', dbt.type_int()) }} as n_complaints_window,
    case tiered.worst_severity_rank when 3 then 'high' when 2 then 'medium' when 1 then 'low' end as worst_severity,
    {{ dbt.cast('tiered.n_external_escalations_window', dbt.type_int()) }} as n_external_escalations_window,
    {{ dbt.cast('tiered.n_open_past_deadline', dbt.type_int()) }} as n_open_past_deadline,
    {{ dbt.cast('tiered.points_frequency', dbt.type_int()) }} as points_frequency,
    {{ dbt.cast('tiered.points_severity', dbt.type_int()) }} as points_severity,
    {{ dbt.cast('tiered.points_insider', dbt.type_int()) }} as points_insider,
    {{ dbt.cast('tiered.points_escalation', dbt.type_int()) }} as points_escalation,
    {{ dbt.cast('tiered.points_overdue', dbt.type_int()) }} as points_overdue,
    {{ dbt.cast('tiered.total_points', dbt.type_int()) }} as total_points,
    tiered.tier,
    handling.handling_group,
    handling.contact_every_days,
    handling.legal_linkage,
    tiered.tier in ({% for t in var('complainant_handling_tiers') %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %}) as needs_handling,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from tiered
left join {{ ref('complainant_tier_handling') }} as handling
    on tiered.tier = handling.tier
