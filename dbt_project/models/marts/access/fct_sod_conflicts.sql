-- Rule AL-07, segregation of duties. One row per (employee_id, pair_id): an employee who holds
-- both entitlements of a toxic pair (seed sod_toxic_pairs) across all of their enabled accounts.
-- The two halves may sit on different accounts: spans_accounts is true when no single account
-- holds both. Only accounts naming an employee_id count (a person is needed). Priority P1.
with pairs as (

    select * from {{ ref('sod_toxic_pairs') }}

),

held as (

    select
        accounts.employee_id,
        entitlements.system,
        entitlements.account_id,
        entitlements.entitlement
    from {{ ref('stg_iam__entitlements') }} as entitlements
    inner join {{ ref('int_access__accounts') }} as accounts
        on entitlements.system = accounts.system
        and entitlements.account_id = accounts.account_id
    where accounts.is_enabled
      and accounts.employee_id is not null

),

side_a as (

    select held.employee_id, pairs.pair_id, held.system, held.account_id
    from held
    inner join pairs
        on held.system = pairs.system_a
        and held.entitlement = pairs.entitlement_a

),

side_b as (

    select held.employee_id, pairs.pair_id, held.system, held.account_id
    from held
    inner join pairs
        on held.system = pairs.system_b
        and held.entitlement = pairs.entitlement_b

),

accounts_a as (

    select
        employee_id,
        pair_id,
        {{ dbt.listagg('account_id', "', '", 'order by account_id') }} as accounts_a
    from side_a
    group by employee_id, pair_id

),

accounts_b as (

    select
        employee_id,
        pair_id,
        {{ dbt.listagg('account_id', "', '", 'order by account_id') }} as accounts_b
    from side_b
    group by employee_id, pair_id

),

one_account as (

    select distinct side_a.employee_id, side_a.pair_id
    from side_a
    inner join side_b
        on side_a.employee_id = side_b.employee_id
        and side_a.pair_id = side_b.pair_id
        and side_a.system = side_b.system
        and side_a.account_id = side_b.account_id

),

employees as (

    select employee_id, status from {{ ref('int_employees__with_status') }}

)

select
    accounts_a.employee_id,
    pairs.pair_id,
    pairs.system_a,
    pairs.entitlement_a,
    pairs.system_b,
    pairs.entitlement_b,
    pairs.description,
    accounts_a.accounts_a,
    accounts_b.accounts_b,
    one_account.pair_id is null as spans_accounts,
    employees.status as employee_status,
    'P1' as priority,
    'AL-07' as rule_id,
    '{{ var("policy_version") }}' as policy_version,
    {{ run_date_sql() }} as as_of_date
from accounts_a
inner join accounts_b
    on accounts_a.employee_id = accounts_b.employee_id
    and accounts_a.pair_id = accounts_b.pair_id
inner join pairs
    on accounts_a.pair_id = pairs.pair_id
left join one_account
    on accounts_a.employee_id = one_account.employee_id
    and accounts_a.pair_id = one_account.pair_id
left join employees
    on accounts_a.employee_id = employees.employee_id
