-- Rule AL-08, asset return. One row per leaver asset: an asset (stg_hr__assets) issued on or
-- before run_date to an employee whose termination_date <= run_date, and still out when the
-- departure began (not returned before the notice date, or before the termination date when HR
-- recorded no notice). Due back by due_date = termination_date + asset_return_grace_days (3).
-- A return date after run_date is not known yet on run_date (treated as not returned). status:
--   returned_on_time  returned on or before due_date (returned exactly on day +3 is on time)
--   returned_late     returned after due_date
--   overdue           not returned and run_date > due_date
--   not_yet_due       not returned and run_date <= due_date
{%- set grace = var('asset_return_grace_days') | int %}
with assets as (

    select * from {{ ref('stg_hr__assets') }}
    where issued_date <= {{ run_date_sql() }}

),

leavers as (

    select * from {{ ref('int_employees__with_status') }}
    where is_leaver

),

leaver_assets as (

    select
        assets.asset_id,
        assets.employee_id,
        assets.asset_type,
        assets.issued_date,
        case when assets.returned_date <= {{ run_date_sql() }} then assets.returned_date end as returned_date,
        leavers.termination_date,
        {{ dbt.cast(dbt.dateadd('day', grace, 'leavers.termination_date'), 'date') }} as due_date
    from assets
    inner join leavers
        on assets.employee_id = leavers.employee_id
    where assets.returned_date is null
       or assets.returned_date >= coalesce(leavers.notice_date, leavers.termination_date)

),

classified as (

    select
        leaver_assets.*,
        case
            when returned_date is not null and returned_date <= due_date then 'returned_on_time'
            when returned_date is not null then 'returned_late'
            when {{ run_date_sql() }} > due_date then 'overdue'
            else 'not_yet_due'
        end as status
    from leaver_assets

)

select
    asset_id,
    employee_id,
    asset_type,
    issued_date,
    termination_date,
    due_date,
    returned_date,
    status,
    {{ dbt.cast(
        'case when status = ' ~ "'overdue'" ~ ' then ' ~ dbt.datediff('due_date', run_date_sql(), 'day')
        ~ ' when status = ' ~ "'returned_late'" ~ ' then ' ~ dbt.datediff('due_date', 'returned_date', 'day')
        ~ ' else 0 end', dbt.type_int()) }} as days_late,
    case
        when status = 'overdue' then 'P2'
        when status = 'returned_late' then 'P3'
    end as priority,
    'AL-08' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from classified
