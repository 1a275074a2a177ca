-- One row per complaint surge (fct_complaint_surge_checks where is_surge: branch_id, category,
-- received_date), as of run_date: the registered incident it belongs to, if any. A surge is linked
-- when its day lies within an incident's window (window_start_date to window_end_date, both
-- included: the start and the restoration day count, the day before the start and the day after
-- restoration do not) and place: a branch incident at the surge's branch, a region incident whose
-- region (seed branch_regions) holds the surge's branch, or a bank_wide incident; the earliest such
-- incident wins. A channel incident links no surge: surges are counted per branch, not per channel.
-- A drill's incident (DRILL- id, docs/drills.md) links no surge: a real surge is never absorbed by
-- a drill. An unlinked surge opens its own complaint_surge case (int_response__findings_incident).
with surges as (

    select branch_id, category, received_date as surge_date, n_complaints, as_of_date
    from {{ ref('fct_complaint_surge_checks') }}
    where is_surge

),

incidents as (

    select * from {{ ref('int_incidents__latest_versions') }}
    where not {{ is_drill('incident_id') }}

),

regions as (

    select branch_id, region from {{ ref('branch_regions') }}

),

candidates as (

    select
        surges.branch_id,
        surges.category,
        surges.surge_date,
        incidents.incident_id,
        row_number() over (
            partition by surges.branch_id, surges.category, surges.surge_date
            order by incidents.started_at, incidents.incident_id
        ) as match_rank
    from surges
    left join regions
        on surges.branch_id = regions.branch_id
    inner join incidents
        on surges.surge_date >= incidents.window_start_date
        and surges.surge_date <= incidents.window_end_date
        and (incidents.location_type = 'bank_wide'
             or (incidents.location_type = 'branch' and incidents.location = surges.branch_id)
             or (incidents.location_type = 'region' and incidents.location = regions.region))

)

select
    {{ dbt.concat(["surges.branch_id", "':'", "surges.category", "':'", dbt.cast('surges.surge_date', dbt.type_string())]) }} as surge_key,
    surges.branch_id,
    surges.category,
    surges.surge_date,
    surges.n_complaints,
    candidates.incident_id as linked_incident_id,
    candidates.incident_id is not null as is_linked,
    surges.as_of_date
from surges
left join candidates
    on surges.branch_id = candidates.branch_id
    and surges.category = candidates.category
    and surges.surge_date = candidates.surge_date
    and candidates.match_rank = 1
