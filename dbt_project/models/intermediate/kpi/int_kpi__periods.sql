-- One row per (period_type, period_start): the calendar months, quarters and years the KPI
-- scorecard reports as of run_date — the current one (period to date) and the kpi_months - 1 /
-- kpi_quarters - 1 / kpi_years - 1 before it — plus one more of each (is_reported false) so the
-- oldest reported period has a previous period to compare with.
-- With the vars response_baseline_start / response_baseline_end set, one more row, period_type
-- 'baseline' (never reported, periods_back null): the fixed period the *_vs_baseline KPIs compare
-- with (docs/models.md); without them there is no baseline row and those KPIs have no value.
--   cutoff_date  the last day whose events count: period_end for a complete period, run_date for
--                the current one. Events dated after the cutoff never count, so a period that
--                ended on or before run_date gives the same figures whatever later run computes it.
{% set as_text = "cast(cast({} as " ~ dbt.type_int() ~ ") as " ~ dbt.type_string() ~ ")" %}
{% set year_text = as_text | replace("{}", "extract(year from period_start)") %}
{% set month_text = as_text | replace("{}", "extract(month from period_start)") %}
{% set quarter_text = as_text | replace("{}", "floor((extract(month from period_start) + 2) / 3)") %}
with digits as (

    select 0 as d union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9

),

numbers as (

    select tens.d * 10 + ones.d as n
    from digits as tens
    cross join digits as ones

),

months as (

    select
        'month' as period_type,
        n as periods_back,
        {{ dbt.cast(dbt.dateadd('month', '-1 * n', dbt.date_trunc('month', run_date_sql())), 'date') }} as period_start,
        {{ dbt.cast(dbt.dateadd('day', -1, dbt.dateadd('month', '1 - n', dbt.date_trunc('month', run_date_sql()))), 'date') }} as period_end,
        n < {{ var('kpi_months') }} as is_reported
    from numbers
    where n <= {{ var('kpi_months') }}

),

quarters as (

    select
        'quarter' as period_type,
        n as periods_back,
        {{ dbt.cast(dbt.dateadd('month', '-3 * n', dbt.date_trunc('quarter', run_date_sql())), 'date') }} as period_start,
        {{ dbt.cast(dbt.dateadd('day', -1, dbt.dateadd('month', '3 - 3 * n', dbt.date_trunc('quarter', run_date_sql()))), 'date') }} as period_end,
        n < {{ var('kpi_quarters') }} as is_reported
    from numbers
    where n <= {{ var('kpi_quarters') }}

),

years as (

    select
        'year' as period_type,
        n as periods_back,
        {{ dbt.cast(dbt.dateadd('year', '-1 * n', dbt.date_trunc('year', run_date_sql())), 'date') }} as period_start,
        {{ dbt.cast(dbt.dateadd('day', -1, dbt.dateadd('year', '1 - n', dbt.date_trunc('year', run_date_sql()))), 'date') }} as period_end,
        n < {{ var('kpi_years') }} as is_reported
    from numbers
    where n <= {{ var('kpi_years') }}

),

{%- set baseline = response_baseline() %}

periods as (

    select * from months
    union all
    select * from quarters
    union all
    select * from years
    {%- if baseline %}
    union all
    select
        'baseline' as period_type,
        {{ dbt.cast('null', dbt.type_int()) }} as periods_back,
        {{ dbt.cast("'" ~ baseline[0] ~ "'", 'date') }} as period_start,
        {{ dbt.cast("'" ~ baseline[1] ~ "'", 'date') }} as period_end,
        false as is_reported
    {%- endif %}

)

select
    period_type,
    period_start,
    period_end,
    case
        when period_type = 'month'
            then {{ dbt.concat([year_text, "'-'", dbt.right(dbt.concat(["'0'", month_text]), 2)]) }}
        when period_type = 'year' then {{ year_text }}
        when period_type = 'baseline'
            then {{ dbt.concat(["'baseline '", dbt.cast('period_start', dbt.type_string()), "'..'", dbt.cast('period_end', dbt.type_string())]) }}
        else {{ dbt.concat([year_text, "'-Q'", quarter_text]) }}
    end as period_label,
    {{ dbt.cast('periods_back', dbt.type_int()) }} as periods_back,
    case when period_end <= {{ run_date_sql() }} then period_end else {{ run_date_sql() }} end as cutoff_date,
    period_end <= {{ run_date_sql() }} as is_complete,
    is_reported,
    {{ run_date_sql() }} as as_of_date
from periods
