-- Published (contract enforced): the items of multi-item cases (the leaver's departure plan:
-- access_frozen, assets_returned, clients_handed_over, record_complete), one row per
-- (case_id, item), each with its owner team and verified separately (fct_case_items).
select
    {{ dbt.cast('case_id', dbt.type_string()) }} as case_id,
    {{ dbt.cast('item', dbt.type_string()) }} as item,
    {{ dbt.cast('owner_team', dbt.type_string()) }} as owner_team,
    {{ dbt.cast('status', dbt.type_string()) }} as status,
    {{ dbt.cast('opened_on', 'date') }} as opened_on,
    {{ dbt.cast('due_by', 'date') }} as due_by,
    {{ dbt.cast('closed_at', 'date') }} as closed_at,
    {{ dbt.cast('verified_by', dbt.type_string()) }} as verified_by,
    {{ dbt.cast('policy_version', dbt.type_string()) }} as policy_version,
    {{ dbt.cast('as_of_date', 'date') }} as as_of_date
from {{ ref('fct_case_items') }}
