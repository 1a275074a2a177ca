-- Published (contract enforced): the KPI scorecard. One row per (kpi, period_type, period_start)
-- for the reported months, quarters and years (kpi_months, kpi_quarters, kpi_years; the current one is period to
-- date, is_complete false): value, the previous period's value, target, RAG status. A complete
-- period's row does not change on later nights. No PII.
{%- set t = dbt.type_string() %}
select
    cast(kpi as {{ t }}) as kpi,
    cast(period_type as {{ t }}) as period_type,
    cast(period_label as {{ t }}) as period,
    cast(period_start as date) as period_start,
    cast(period_end as date) as period_end,
    cast(is_complete as {{ dbt.type_boolean() }}) as is_complete,
    cast(value as decimal(18,4)) as value,
    cast(previous_value as decimal(18,4)) as previous_value,
    cast(numerator as decimal(18,4)) as numerator,
    cast(denominator as decimal(18,4)) as denominator,
    cast(target as decimal(18,4)) as target,
    cast(direction as {{ t }}) as direction,
    cast(amber_band as decimal(18,4)) as amber_band,
    cast(unit as {{ t }}) as unit,
    cast(status as {{ t }}) as status,
    cast(n_excluded as {{ dbt.type_int() }}) as n_excluded,
    cast(excluded_reason as {{ t }}) as excluded_reason,
    cast(policy_version as {{ t }}) as policy_version,
    cast(as_of_date as date) as as_of_date
from {{ ref('fct_kpi_scorecard') }}
