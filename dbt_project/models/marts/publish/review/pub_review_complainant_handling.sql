-- Published (contract enforced): the key-complainant handling plans (CT-02) as they stood at the
-- end of each quarter, for the review pack's "Complainant handling" (docs/review-pack.md).
-- One row per (snapshot_date, person_key), snapshot_date = run_date; same retention as
-- pub_review_findings. No PII: tokens-derived person keys, complainant ids, tiers, dates.
{{
    config(
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"],
        **slice_per_run_config('snapshot_date')
    )
}}

{{ review_slice(ref('pub_complainant_handling'), [
    'person_key', 'complainant_ids', 'tier', 'handling_group', 'tier_entered_on', 'last_contact_date', 'next_contact_due', 'is_contact_overdue', 'legal_linkage', 'policy_version'
]) }}
