-- Published (contract enforced): every other access-and-leavers exception, one table for alerts
-- and the quarterly review pack. One row per exception_id (rule_id plus the subject's natural key,
-- stable across nights). exception_kind:
--   orphan_account        AL-04  enabled account without a valid owner
--   dormant_account       AL-05  enabled account, no activity for more than dormant_after_days
--   access_creep          AL-06  entitlement kept after a move that new peers lack
--   sod_conflict          AL-07  toxic pair held by one employee (accounts in detail)
--   asset_overdue         AL-08  leaver asset not back after the grace period
--   asset_returned_late   AL-08  came back late, within the last review_window_days
--   handover_overdue      AL-09  active client of a departed RM without a new RM after the due date
--   handover_late         AL-09  handed over after the due date, within the last review_window_days
--   rm_departure_churn    AL-10  client closed within churn_window_days of its RM's termination,
--                                closed within the last review_window_days
-- Leaver access (AL-01), notice restrictions (AL-02) and post-termination logins (AL-03) have
-- their own published tables. No PII: ids, dates and policy terms only.
{%- set window = var('review_window_days') | int %}
{%- set review_from = dbt.cast(dbt.dateadd('day', -window, run_date_sql()), 'date') %}
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}

with orphans as (

    select
        {{ dbt.concat(["'AL-04:'", 'system', "':'", 'account_id']) }} as exception_id,
        rule_id,
        'orphan_account' as exception_kind,
        priority,
        employee_id,
        system,
        account_id,
        cast(null as {{ t }}) as entitlement,
        cast(null as {{ t }}) as asset_id,
        cast(null as {{ t }}) as client_id,
        cast(null as date) as event_date,
        cast(null as date) as due_date,
        cast(null as {{ i }}) as days_overdue,
        case
            when similar_employee_id is not null
                then {{ dbt.concat(['reason', "': no employee '", 'employee_id', "' in HR (similar id: '", 'similar_employee_id', "')'"]) }}
            else reason
        end as detail,
        policy_version,
        as_of_date
    from {{ ref('fct_orphan_accounts') }}

),

dormant as (

    select
        {{ dbt.concat(["'AL-05:'", 'system', "':'", 'account_id']) }} as exception_id,
        rule_id,
        'dormant_account' as exception_kind,
        priority,
        employee_id,
        system,
        account_id,
        cast(null as {{ t }}) as entitlement,
        cast(null as {{ t }}) as asset_id,
        cast(null as {{ t }}) as client_id,
        last_activity_date as event_date,
        cast(null as date) as due_date,
        cast(null as {{ i }}) as days_overdue,
        {{ dbt.concat(["'inactive '", dbt.cast('days_inactive', t), "' days (basis: '", 'dormant_basis', "')'"]) }} as detail,
        policy_version,
        as_of_date
    from {{ ref('fct_dormant_accounts') }}

),

creep as (

    select
        {{ dbt.concat(["'AL-06:'", 'system', "':'", 'account_id', "':'", 'entitlement']) }} as exception_id,
        rule_id,
        'access_creep' as exception_kind,
        priority,
        employee_id,
        system,
        account_id,
        entitlement,
        cast(null as {{ t }}) as asset_id,
        cast(null as {{ t }}) as client_id,
        effective_date as event_date,
        cast(null as date) as due_date,
        cast(null as {{ i }}) as days_overdue,
        {{ dbt.concat(["'moved from '", "coalesce(old_position, '?')", "' to '", "coalesce(current_position, '?')", "'; no peer holds it'"]) }} as detail,
        policy_version,
        as_of_date
    from {{ ref('fct_access_creep') }}

),

sod as (

    select
        {{ dbt.concat(["'AL-07:'", 'employee_id', "':'", 'pair_id']) }} as exception_id,
        rule_id,
        'sod_conflict' as exception_kind,
        priority,
        employee_id,
        case when system_a = system_b then system_a else {{ dbt.concat(['system_a', "'+'", 'system_b']) }} end as system,
        cast(null as {{ t }}) as account_id,
        {{ dbt.concat(['entitlement_a', "'+'", 'entitlement_b']) }} as entitlement,
        cast(null as {{ t }}) as asset_id,
        cast(null as {{ t }}) as client_id,
        cast(null as date) as event_date,
        cast(null as date) as due_date,
        cast(null as {{ i }}) as days_overdue,
        {{ dbt.concat(['pair_id', "': '", 'entitlement_a', "' on '", 'accounts_a', "'; '", 'entitlement_b', "' on '", 'accounts_b']) }} as detail,
        policy_version,
        as_of_date
    from {{ ref('fct_sod_conflicts') }}

),

assets as (

    select
        {{ dbt.concat(["'AL-08:'", 'asset_id']) }} as exception_id,
        rule_id,
        case when status = 'overdue' then 'asset_overdue' else 'asset_returned_late' end as exception_kind,
        priority,
        employee_id,
        cast(null as {{ t }}) as system,
        cast(null as {{ t }}) as account_id,
        cast(null as {{ t }}) as entitlement,
        asset_id,
        cast(null as {{ t }}) as client_id,
        termination_date as event_date,
        due_date,
        days_late as days_overdue,
        case
            when status = 'overdue' then {{ dbt.concat(['asset_type', "' not returned'"]) }}
            else {{ dbt.concat(['asset_type', "' returned '", dbt.cast('returned_date', t)]) }}
        end as detail,
        policy_version,
        as_of_date
    from {{ ref('fct_unreturned_assets') }}
    where status = 'overdue'
       or (status = 'returned_late' and returned_date >= {{ review_from }})

),

handovers as (

    select
        {{ dbt.concat(["'AL-09:'", 'client_id', "':'", 'rm_employee_id']) }} as exception_id,
        rule_id,
        case when status = 'overdue' then 'handover_overdue' else 'handover_late' end as exception_kind,
        case when status = 'overdue' then 'P2' else 'P3' end as priority,
        rm_employee_id as employee_id,
        cast(null as {{ t }}) as system,
        cast(null as {{ t }}) as account_id,
        cast(null as {{ t }}) as entitlement,
        cast(null as {{ t }}) as asset_id,
        client_id,
        rm_termination_date as event_date,
        handover_due_date as due_date,
        case
            when status = 'overdue' then days_overdue
            else {{ dbt.datediff('handover_due_date', 'handed_over_on', 'day') }}
        end as days_overdue,
        case
            when status = 'overdue' and crm_names_departed_rm then 'no new RM; the CRM still names the departed RM'
            when status = 'overdue' then 'no new RM'
            else {{ dbt.concat(["'handed over on '", dbt.cast('handed_over_on', t)]) }}
        end as detail,
        policy_version,
        as_of_date
    from {{ ref('fct_client_handovers') }}
    where (status = 'overdue' and client_status = 'active')
       or (status = 'done' and not handed_over_within_due and handed_over_on >= {{ review_from }})

),

churn as (

    select
        {{ dbt.concat(["'AL-10:'", 'client_id', "':'", 'rm_employee_id']) }} as exception_id,
        rule_id,
        'rm_departure_churn' as exception_kind,
        'P3' as priority,
        rm_employee_id as employee_id,
        cast(null as {{ t }}) as system,
        cast(null as {{ t }}) as account_id,
        cast(null as {{ t }}) as entitlement,
        cast(null as {{ t }}) as asset_id,
        client_id,
        closed_date as event_date,
        cast(null as date) as due_date,
        cast(null as {{ i }}) as days_overdue,
        {{ dbt.concat(["'closed '", dbt.cast('days_after_termination', t), "' days after the RM left'"]) }} as detail,
        policy_version,
        as_of_date
    from {{ ref('fct_rm_departure_churn') }}
    where churned
      and closed_date >= {{ review_from }}

),

unioned as (

    select * from orphans
    union all select * from dormant
    union all select * from creep
    union all select * from sod
    union all select * from assets
    union all select * from handovers
    union all select * from churn

)

select
    {{ dbt.cast('exception_id', t) }} as exception_id,
    {{ dbt.cast('rule_id', t) }} as rule_id,
    {{ dbt.cast('exception_kind', t) }} as exception_kind,
    {{ dbt.cast('priority', t) }} as priority,
    {{ dbt.cast('employee_id', t) }} as employee_id,
    {{ dbt.cast('system', t) }} as system,
    {{ dbt.cast('account_id', t) }} as account_id,
    {{ dbt.cast('entitlement', t) }} as entitlement,
    {{ dbt.cast('asset_id', t) }} as asset_id,
    {{ dbt.cast('client_id', t) }} as client_id,
    {{ dbt.cast('event_date', 'date') }} as event_date,
    {{ dbt.cast('due_date', 'date') }} as due_date,
    {{ dbt.cast('days_overdue', i) }} as days_overdue,
    {{ dbt.cast('detail', t) }} as detail,
    {{ dbt.cast('policy_version', t) }} as policy_version,
    {{ dbt.cast('as_of_date', 'date') }} as as_of_date
from unioned
