-- Published (contract enforced): the key-complainant handling plans (CT-02) as they stood at the
-- end of each quarter, for the review pack's "Complainant handling" (docs/review-pack.md).
-- One row per (snapshot_date, person_key), snapshot_date = run_date; same retention as
-- pub_review_findings. No PII: tokens-derived person keys, complainant ids, tiers, dates.
{%- set t = dbt.type_string() %}
{%- set b = dbt.type_boolean() %}
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

select
    {{ run_date_sql() }} as snapshot_date,
    {{ dbt.cast('person_key', t) }} as person_key,
    {{ dbt.cast('complainant_ids', t) }} as complainant_ids,
    {{ dbt.cast('tier', t) }} as tier,
    {{ dbt.cast('handling_group', t) }} as handling_group,
    {{ dbt.cast('tier_entered_on', 'date') }} as tier_entered_on,
    {{ dbt.cast('last_contact_date', 'date') }} as last_contact_date,
    {{ dbt.cast('next_contact_due', 'date') }} as next_contact_due,
    {{ dbt.cast('is_contact_overdue', b) }} as is_contact_overdue,
    {{ dbt.cast('legal_linkage', b) }} as legal_linkage,
    {{ dbt.cast('policy_version', t) }} as policy_version
from {{ ref('pub_complainant_handling') }}
