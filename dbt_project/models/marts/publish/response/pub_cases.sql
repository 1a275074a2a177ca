-- Published (contract enforced): every case of the response loop, one row per case_id (fct_cases,
-- docs/cases.md): what the cases writer, alerts and the review pack read. No PII: ids, teams,
-- dates and policy terms only.
select
    {{ dbt.cast('case_id', dbt.type_string()) }} as case_id,
    {{ dbt.cast('kind', dbt.type_string()) }} as kind,
    {{ dbt.cast('subject_type', dbt.type_string()) }} as subject_type,
    {{ dbt.cast('subject_id', dbt.type_string()) }} as subject_id,
    {{ dbt.cast('owner_team', dbt.type_string()) }} as owner_team,
    {{ dbt.cast('opened_on', 'date') }} as opened_on,
    {{ dbt.cast('due_by', 'date') }} as due_by,
    {{ dbt.cast('priority', dbt.type_string()) }} as priority,
    {{ dbt.cast('status', dbt.type_string()) }} as status,
    {{ dbt.cast('acknowledged_at', type_timestamptz()) }} as acknowledged_at,
    {{ dbt.cast('closed_at', 'date') }} as closed_at,
    {{ dbt.cast('verified_by', dbt.type_string()) }} as verified_by,
    {{ dbt.cast('policy_version', dbt.type_string()) }} as policy_version,
    {{ dbt.cast('as_of_date', 'date') }} as as_of_date
from {{ ref('fct_cases') }}
