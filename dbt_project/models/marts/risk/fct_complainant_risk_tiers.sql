-- One row per complainant_id with a complaint in the trailing window or an overdue unresolved
-- complaint (int_complainants__risk_signals), as of run_date: points per factor, the tier and the
-- recommended handling of the key-complainant policy (seed complainant_tier_handling).
--   frequency    complainant_points_repeat at complainant_repeat_threshold (3) complaints or more,
--                complainant_points_two_complaints at two
--   severity     points of the worst reason in the window (high / medium / low)
--   insider      complainant_points_insider
--   escalation   complainant_points_escalation when a complaint in the window was escalated externally
--   overdue      complainant_points_overdue_open when an unresolved complaint is past its deadline
--   tier         high at complainant_tier_high points or more, medium at complainant_tier_medium, else low
with signals as (

    select * from {{ ref('int_complainants__risk_signals') }}

),

handling as (

    select * from {{ ref('complainant_tier_handling') }}

),

pointed as (

    select
        signals.*,
        n_complaints_window >= {{ var('complainant_repeat_threshold') }} as is_repeat_complainant,
        case
            when n_complaints_window >= {{ var('complainant_repeat_threshold') }} then {{ var('complainant_points_repeat') }}
            when n_complaints_window = 2 then {{ var('complainant_points_two_complaints') }}
            else 0
        end as points_frequency,
        case worst_severity
            when 'high' then {{ var('complainant_points_severity_high') }}
            when 'medium' then {{ var('complainant_points_severity_medium') }}
            when 'low' then {{ var('complainant_points_severity_low') }}
            else 0
        end as points_severity,
        case when has_insider_link then {{ var('complainant_points_insider') }} else 0 end as points_insider,
        case when n_external_escalations_window > 0 then {{ var('complainant_points_escalation') }} else 0 end as points_escalation,
        case when n_open_past_deadline > 0 then {{ var('complainant_points_overdue_open') }} else 0 end as points_overdue
    from signals

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
    tiered.as_of_date,
    tiered.complainant_id,
    tiered.client_id,
    tiered.n_complaints_window,
    tiered.is_repeat_complainant,
    tiered.worst_severity,
    tiered.n_high_severity_window,
    tiered.has_insider_link,
    tiered.n_external_escalations_window,
    tiered.n_open_past_deadline,
    tiered.first_received_date_window,
    tiered.last_received_date_window,
    {{ dbt.cast('tiered.points_frequency', dbt.type_int()) }} as points_frequency,
    {{ dbt.cast('tiered.points_severity', dbt.type_int()) }} as points_severity,
    {{ dbt.cast('tiered.points_insider', dbt.type_int()) }} as points_insider,
    {{ dbt.cast('tiered.points_escalation', dbt.type_int()) }} as points_escalation,
    {{ dbt.cast('tiered.points_overdue', dbt.type_int()) }} as points_overdue,
    {{ dbt.cast('tiered.total_points', dbt.type_int()) }} as total_points,
    tiered.tier,
    handling.handling_group,
    handling.recommended_handling,
    handling.contact_every_days,
    handling.legal_linkage,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from tiered
left join handling
    on tiered.tier = handling.tier
