-- Every open finding of the response loop tonight, one row per (kind, subject, item): the
-- union of the per-kind models, which all have the same columns (macro response_finding).
-- A new kind is one more model and one more line here.
{%- set kinds = [
    'int_response__findings_leaver',
    'int_response__findings_sod_conflict',
    'int_response__findings_orphan_account',
    'int_response__findings_dormant_account',
    'int_response__findings_access_creep',
    'int_response__findings_revocation_overdue',
    'int_response__findings_departure_risk_high',
    'int_response__findings_complainant_handling',
    'int_response__findings_incident',
] %}
{% for model in kinds %}
select * from {{ ref(model) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
