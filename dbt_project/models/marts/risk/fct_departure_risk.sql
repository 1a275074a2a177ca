-- One row per active employee_id as of run_date: the departure-risk score and tier.
--   base_points       = the points of every signal present (a demotion scores instead of a plain job change)
--   impact_multiplier = 1 + the business-impact weights that apply (RM of active clients, a large
--                       book, high AUM, privileged access)
--   score             = base_points * impact_multiplier; tier high / medium / low by the cut-offs
-- Every parameter is a var (dbt_project.yml); docs/models.md explains the rule.
with signals as (

    select * from {{ ref('int_departure_risk__signals') }}

),

pointed as (

    select
        signals.*,
        case when has_performance_drop then {{ var('departure_points_performance_drop') }} else 0 end as points_performance_drop,
        case
            when has_demotion then {{ var('departure_points_demotion') }}
            when has_recent_job_change then {{ var('departure_points_job_change') }}
            else 0
        end as points_job_change,
        case when has_contract_ending then {{ var('departure_points_contract_end') }} else 0 end as points_contract_end,
        case when has_given_notice then {{ var('departure_points_notice') }} else 0 end as points_notice,
        case when has_manager_left then {{ var('departure_points_manager_left') }} else 0 end as points_manager_left,
        1
            + case when n_clients >= 1 then {{ var('departure_impact_weight_rm') }} else 0 end
            + case when n_clients >= {{ var('departure_large_book_clients') }} then {{ var('departure_impact_weight_large_book') }} else 0 end
            + case when clients_aum >= {{ var('departure_high_aum') }} then {{ var('departure_impact_weight_high_aum') }} else 0 end
            + case when has_privileged_access then {{ var('departure_impact_weight_privileged') }} else 0 end
            as raw_impact_multiplier
    from signals

),

scored as (

    select
        pointed.*,
        points_performance_drop + points_job_change + points_contract_end + points_notice + points_manager_left
            as raw_base_points
    from pointed

),

final as (

    select
        scored.*,
        {{ dbt.cast('raw_base_points * raw_impact_multiplier', 'decimal(10,2)') }} as score
    from scored

)

select
    as_of_date,
    employee_id,
    department,
    position,
    manager_id,
    employment_type,
    status,
    has_performance_drop,
    latest_rating,
    previous_rating,
    has_recent_job_change,
    has_demotion,
    has_promotion,
    last_job_change_date,
    has_contract_ending,
    contract_end_date,
    has_given_notice,
    notice_date,
    has_manager_left,
    manager_termination_date,
    {{ dbt.cast(
        "case when has_performance_drop then 1 else 0 end + case when has_recent_job_change then 1 else 0 end"
        ~ " + case when has_contract_ending then 1 else 0 end + case when has_given_notice then 1 else 0 end"
        ~ " + case when has_manager_left then 1 else 0 end", dbt.type_int()) }} as n_signals,
    n_clients,
    clients_aum,
    has_privileged_access,
    {{ dbt.cast('raw_base_points', 'decimal(10,2)') }} as base_points,
    {{ dbt.cast('raw_impact_multiplier', 'decimal(10,2)') }} as impact_multiplier,
    score,
    case
        when score >= {{ var('departure_tier_high') }} then 'high'
        when score >= {{ var('departure_tier_medium') }} then 'medium'
        else 'low'
    end as tier,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version,
    _feed_date,
    _source_file,
    _source_line
from final
