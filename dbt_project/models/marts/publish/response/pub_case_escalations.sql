-- Published (contract enforced): the cases that call for an alert to their owner team tonight
-- (fct_cases; alerts derive one per row, the alert ledger sends each alert_key once):
--   overdue            an open case that went past due_by since the previous night (or was opened
--                      past it tonight); days = days past due_by
--   claim_unverified   resolved in the ITSM but the data still shows the condition, for more than
--                      claim_grace_days (seed case_policy); days = days since the claim
-- alert_key is stable for the same escalation: a case that stays overdue is alerted once.
-- is_go_live: tonight is the response loop's first night (alerts send one digest per owner team).
{%- set t = dbt.type_string() %}
{%- set i = dbt.type_int() %}
with cases as (

    select * from {{ ref('fct_cases') }}
    where status <> 'closed_verified'

),

nights as (

    -- the nights the cases read (published ones and tonight): a held night is no previous night
    select as_of_date from {{ ref('int_response__case_nights') }}

),

previous_night as (

    select max(as_of_date) as as_of_date from nights where as_of_date < {{ run_date_sql() }}

),

escalations as (

    select
        {{ dbt.concat(["'CASE-OD:'", 'cases.case_id', "':'", dbt.cast('cases.due_by', t)]) }} as alert_key,
        cases.case_id,
        cases.kind,
        cases.owner_team,
        'overdue' as escalation,
        cases.due_by,
        {{ dbt.datediff('cases.due_by', run_date_sql(), 'day') }} as days,
        cases.priority
    from cases
    cross join previous_night
    where cases.is_overdue
      and (previous_night.as_of_date is null
           or cases.due_by >= previous_night.as_of_date
           or cases.episode_started_on > previous_night.as_of_date)

    union all

    select
        {{ dbt.concat(["'CASE-CU:'", 'cases.case_id', "':'", dbt.cast(utc_date('cases.resolved_claimed_at'), t)]) }} as alert_key,
        cases.case_id,
        cases.kind,
        cases.owner_team,
        'claim_unverified' as escalation,
        cases.due_by,
        cases.days_claimed_unverified as days,
        cases.priority
    from cases
    where cases.status = 'resolved_claimed'
      and cases.days_claimed_unverified > cases.claim_grace_days

)

select
    cast(escalations.alert_key as {{ t }}) as alert_key,
    cast(escalations.case_id as {{ t }}) as case_id,
    cast(escalations.kind as {{ t }}) as kind,
    cast(escalations.owner_team as {{ t }}) as owner_team,
    cast(escalations.escalation as {{ t }}) as escalation,
    cast(escalations.due_by as date) as due_by,
    cast(escalations.days as {{ i }}) as days,
    cast(escalations.priority as {{ t }}) as priority,
    cast((select min(as_of_date) from nights) = {{ run_date_sql() }} as {{ dbt.type_boolean() }}) as is_go_live,
    cast('{{ var("policy_version") }}' as {{ t }}) as policy_version,
    cast({{ run_date_sql() }} as date) as as_of_date
from escalations
