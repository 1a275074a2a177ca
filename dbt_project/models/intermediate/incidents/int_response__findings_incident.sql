-- One row per (kind, subject_id, item): findings for the cases model, in its finding shape.
--   kind incident          every registered incident (fct_incidents): items activation,
--                          restoration and post_event_review, detected on the report day; severe
--                          incidents are owned by the emergency leadership team
--                          (incident_severe_owner_team); a late review adds post_review_overdue
--                          (detected the day after its due date, severity high: the escalation)
--   kind complaint_surge   every surge no registered incident explains (fct_complaint_surge_incidents,
--                          is_linked false): one investigate_surge item at the surge's branch
with incidents as (

    select * from {{ ref('fct_incidents') }}

),

surges as (

    select * from {{ ref('fct_complaint_surge_incidents') }}
    where not is_linked

),

items as (

    {%- for item in ['activation', 'restoration', 'post_event_review'] %}
    -- the cases' severities are high / medium / low: a critical incident is a high case (owned by the
    -- emergency leadership through is_severe either way)
    select 'incident' as kind, 'incident' as subject_type, incident_id as subject_id,
        case when severity = 'critical' then 'high' else severity end as severity,
        reported_date as detected_on,
        case when is_severe then '{{ var("incident_severe_owner_team") }}' else '{{ var("incident_owner_team") }}' end as owner_team,
        '{{ item }}' as item
    from incidents
    union all
    {%- endfor %}

    select 'incident', 'incident', incident_id, 'high',
        {{ dbt.cast(dbt.dateadd('day', 1, 'post_review_due_date'), 'date') }},
        case when is_severe then '{{ var("incident_severe_owner_team") }}' else '{{ var("incident_owner_team") }}' end,
        'post_review_overdue'
    from incidents
    where is_review_overdue

    union all

    select 'complaint_surge', 'branch', surge_key, 'medium', surge_date, '{{ var("incident_owner_team") }}',
        'investigate_surge'
    from surges

)

select
    {{ dbt.cast('kind', dbt.type_string()) }} as kind,
    {{ dbt.cast('subject_type', dbt.type_string()) }} as subject_type,
    {{ dbt.cast('subject_id', dbt.type_string()) }} as subject_id,
    {{ dbt.cast('severity', dbt.type_string()) }} as severity,
    {{ dbt.cast('detected_on', 'date') }} as detected_on,
    {{ dbt.cast('owner_team', dbt.type_string()) }} as owner_team,
    {{ dbt.cast('null', dbt.type_string()) }} as department,
    {{ dbt.cast("'" ~ var('incident_owner_team') ~ "'", dbt.type_string()) }} as detected_by_team,
    {{ dbt.cast('item', dbt.type_string()) }} as item
from items
