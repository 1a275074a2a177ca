-- Published (contract enforced): the findings the quarterly review pack lists, as they stood at
-- the end of each quarter. One row per (snapshot_date, finding_key), snapshot_date = run_date.
--
-- Every other published table holds the current state only, so a pack built after more nights
-- were loaded would otherwise see later state. This table keeps one slice per calendar quarter:
-- tonight's slice (delete+insert on snapshot_date) and, through the post-hook, only the latest
-- slice of each quarter; the latest slice of a past quarter is the state at its last night.
-- A rerun of a night replaces its slice; a backfill of an earlier night of a quarter that has a
-- later slice leaves that later slice alone.
--
-- Sources (one finding_kind each, finding_key = the source's own stable key):
--   pub_leaver_access_exposure   AL-01 leaver_access                (overdue / not_yet_due)
--   pub_notice_restrictions      AL-02 notice_privileged_access     (overdue / not_yet_due)
--   pub_post_termination_logins  AL-03 post_termination_login       (reported_date = first reported)
--   pub_access_exceptions        AL-04..AL-10 exception_kind        (open / closed_late / closed)
--   pub_complaint_deadlines      CH-01 complaint_deadline_breach    (breached only: open / closed_late)
--   pub_complaint_surges         CH-02 complaint_surge              (incident)
-- Surges are published for surge_report_days (90) while a quarter has up to 92 days, so a slice
-- also carries forward the surges of the quarter's previous slice: the quarter's last slice lists
-- every surge found during the quarter. No PII: ids, dates, policy terms; no complaint free text.
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
{%- set rd = run_date() %}
{%- set quarter_start = "%s-%02d-01" | format(rd[0:4], ((rd[5:7] | int) - 1) // 3 * 3 + 1) %}
{%- set quarter_start_sql = dbt.cast("'" ~ quarter_start ~ "'", 'date') %}
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

with leaver_access as (

    select
        ticket_key as finding_key,
        rule_id,
        'leaver_access' as finding_kind,
        priority,
        case when is_overdue then 'overdue' else 'not_yet_due' end as status,
        employee_id,
        system,
        account_id,
        cast(null as {{ t }}) as entitlement,
        cast(null as {{ t }}) as asset_id,
        cast(null as {{ t }}) as client_id,
        cast(null as {{ t }}) as complaint_id,
        cast(null as {{ t }}) as complainant_id,
        cast(null as {{ t }}) as branch_id,
        cast(null as {{ t }}) as category,
        termination_date as event_date,
        due_date,
        cast(null as date) as reported_date,
        days_overdue,
        n_entitlements as n_items,
        {{ dbt.concat(["'criticality '", 'criticality', "case when is_privileged then '; privileged' else '' end"]) }} as detail,
        policy_version
    from {{ ref('pub_leaver_access_exposure') }}

),

notice as (

    select
        ticket_key as finding_key,
        rule_id,
        'notice_privileged_access' as finding_kind,
        priority,
        case when is_overdue then 'overdue' else 'not_yet_due' end as status,
        employee_id,
        system,
        account_id,
        entitlement,
        cast(null as {{ t }}) as asset_id,
        cast(null as {{ t }}) as client_id,
        cast(null as {{ t }}) as complaint_id,
        cast(null as {{ t }}) as complainant_id,
        cast(null as {{ t }}) as branch_id,
        cast(null as {{ t }}) as category,
        notice_date as event_date,
        due_date,
        cast(null as date) as reported_date,
        days_overdue,
        cast(null as {{ i }}) as n_items,
        cast('privileged entitlement during notice' as {{ t }}) as detail,
        policy_version
    from {{ ref('pub_notice_restrictions') }}

),

logins as (

    select
        alert_key as finding_key,
        rule_id,
        'post_termination_login' as finding_kind,
        priority,
        {{ dbt.concat(["'account '", 'account_status']) }} as status,
        employee_id,
        system,
        account_id,
        cast(null as {{ t }}) as entitlement,
        cast(null as {{ t }}) as asset_id,
        cast(null as {{ t }}) as client_id,
        cast(null as {{ t }}) as complaint_id,
        cast(null as {{ t }}) as complainant_id,
        cast(null as {{ t }}) as branch_id,
        cast(null as {{ t }}) as category,
        login_date as event_date,
        termination_date as due_date,
        first_reported_on as reported_date,
        days_after_termination as days_overdue,
        cast(null as {{ i }}) as n_items,
        {{ dbt.concat(["'login '", dbt.cast('days_after_termination', t), "' day(s) after termination ('", 'outcome', "', source '", 'source', "')'"]) }} as detail,
        policy_version
    from {{ ref('pub_post_termination_logins') }}

),

exceptions as (

    select
        exception_id as finding_key,
        rule_id,
        exception_kind as finding_kind,
        priority,
        case
            when exception_kind in ('asset_returned_late', 'handover_late') then 'closed_late'
            when exception_kind = 'rm_departure_churn' then 'closed'
            else 'open'
        end as status,
        employee_id,
        system,
        account_id,
        entitlement,
        asset_id,
        client_id,
        cast(null as {{ t }}) as complaint_id,
        cast(null as {{ t }}) as complainant_id,
        cast(null as {{ t }}) as branch_id,
        cast(null as {{ t }}) as category,
        event_date,
        due_date,
        cast(null as date) as reported_date,
        days_overdue,
        cast(null as {{ i }}) as n_items,
        detail,
        policy_version
    from {{ ref('pub_access_exceptions') }}

),

breaches as (

    select
        alert_key as finding_key,
        rule_id,
        'complaint_deadline_breach' as finding_kind,
        priority,
        case when deadline_status = 'resolved_late' then 'closed_late' else 'open' end as status,
        employee_id,
        cast(null as {{ t }}) as system,
        cast(null as {{ t }}) as account_id,
        cast(null as {{ t }}) as entitlement,
        cast(null as {{ t }}) as asset_id,
        client_id,
        complaint_id,
        complainant_id,
        branch_id,
        category,
        received_date as event_date,
        deadline_date as due_date,
        resolved_date as reported_date,
        days_past_deadline as days_overdue,
        cast(null as {{ i }}) as n_items,
        {{ dbt.concat(['deadline_status', "' (channel '", 'channel', "case when is_externally_escalated then ', escalated externally' else '' end", "')'"]) }} as detail,
        policy_version
    from {{ ref('pub_complaint_deadlines') }}
    where is_breached

),

surges as (

    select
        alert_key as finding_key,
        rule_id,
        'complaint_surge' as finding_kind,
        cast('P2' as {{ t }}) as priority,
        cast('incident' as {{ t }}) as status,
        cast(null as {{ t }}) as employee_id,
        cast(null as {{ t }}) as system,
        cast(null as {{ t }}) as account_id,
        cast(null as {{ t }}) as entitlement,
        cast(null as {{ t }}) as asset_id,
        cast(null as {{ t }}) as client_id,
        cast(null as {{ t }}) as complaint_id,
        cast(null as {{ t }}) as complainant_id,
        branch_id,
        category,
        surge_date as event_date,
        cast(null as date) as due_date,
        cast(null as date) as reported_date,
        cast(null as {{ i }}) as days_overdue,
        n_complaints as n_items,
        {{ dbt.concat([dbt.cast('n_complaints', t), "' complaints against '", dbt.cast('baseline_total', t), "' in the '", dbt.cast('baseline_days', t), "' days before'"]) }} as detail,
        policy_version
    from {{ ref('pub_complaint_surges') }}

),

tonight as (

    select * from leaver_access
    union all select * from notice
    union all select * from logins
    union all select * from exceptions
    union all select * from breaches
    union all select * from surges

){% if is_incremental() %},

carried_surges as (

    -- surges of the quarter's previous slice (or of this night's own slice, on a rerun) that
    -- tonight's 90-day window no longer shows
    select
        finding_key, rule_id, finding_kind, priority, status, employee_id, system, account_id,
        entitlement, asset_id, client_id, complaint_id, complainant_id, branch_id, category,
        event_date, due_date, reported_date, days_overdue, n_items, detail, policy_version
    from {{ this }}
    where finding_kind = 'complaint_surge'
      and event_date >= {{ quarter_start_sql }}
      and snapshot_date = (
          select max(snapshot_date) from {{ this }}
          where snapshot_date <= {{ run_date_sql() }} and snapshot_date >= {{ quarter_start_sql }}
      )
      and finding_key not in (select finding_key from surges)

),

everything as (

    select * from tonight
    union all select * from carried_surges

){% else %},

everything as (

    select * from tonight

){% endif %}

select
    {{ run_date_sql() }} as snapshot_date,
    {{ dbt.cast('finding_key', t) }} as finding_key,
    {{ dbt.cast('rule_id', t) }} as rule_id,
    {{ dbt.cast('finding_kind', t) }} as finding_kind,
    {{ dbt.cast('priority', t) }} as priority,
    {{ dbt.cast('status', t) }} as status,
    {{ dbt.cast('employee_id', t) }} as employee_id,
    {{ dbt.cast('system', t) }} as system,
    {{ dbt.cast('account_id', t) }} as account_id,
    {{ dbt.cast('entitlement', t) }} as entitlement,
    {{ dbt.cast('asset_id', t) }} as asset_id,
    {{ dbt.cast('client_id', t) }} as client_id,
    {{ dbt.cast('complaint_id', t) }} as complaint_id,
    {{ dbt.cast('complainant_id', t) }} as complainant_id,
    {{ dbt.cast('branch_id', t) }} as branch_id,
    {{ dbt.cast('category', t) }} as category,
    {{ dbt.cast('event_date', 'date') }} as event_date,
    {{ dbt.cast('due_date', 'date') }} as due_date,
    {{ dbt.cast('reported_date', 'date') }} as reported_date,
    {{ dbt.cast('days_overdue', i) }} as days_overdue,
    {{ dbt.cast('n_items', i) }} as n_items,
    {{ dbt.cast('detail', t) }} as detail,
    {{ dbt.cast('policy_version', t) }} as policy_version
from everything
