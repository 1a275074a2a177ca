{#-
    Tier movements between the previous slice of a tier-history model (its latest as_of_date
    before run_date) and run_date's slice: one row per `key` whose tier moved up or down.
    Someone missing from a slice counts as low. Empty when the history holds no earlier slice.

    history: ref() of an incremental history model with as_of_date, `key`, tier and `measure`;
    the measure comes out as previous_<measure_alias> and current_<measure_alias>.
-#}
{% macro tier_changes(history, key, measure, measure_alias=none) -%}
{%- set alias = measure_alias or measure -%}
with history as (

    select * from {{ history }}

),

current_slice as (

    select * from history where as_of_date = {{ run_date_sql() }}

),

previous_date as (

    select max(as_of_date) as previous_as_of_date
    from history
    where as_of_date < {{ run_date_sql() }}

),

previous_slice as (

    select history.*
    from history
    inner join previous_date
        on history.as_of_date = previous_date.previous_as_of_date

),

paired as (

    select
        coalesce(current_slice.{{ key }}, previous_slice.{{ key }}) as {{ key }},
        previous_slice.tier as previous_tier,
        previous_slice.{{ measure }} as previous_{{ alias }},
        current_slice.tier as current_tier,
        current_slice.{{ measure }} as current_{{ alias }},
        current_slice.{{ key }} is not null as in_current_slice,
        previous_slice.{{ key }} is not null as in_previous_slice,
        case coalesce(previous_slice.tier, 'low') when 'high' then 3 when 'medium' then 2 else 1 end as previous_rank,
        case coalesce(current_slice.tier, 'low') when 'high' then 3 when 'medium' then 2 else 1 end as current_rank
    from current_slice
    full outer join previous_slice
        on current_slice.{{ key }} = previous_slice.{{ key }}

)

select
    {{ run_date_sql() }} as as_of_date,
    previous_date.previous_as_of_date,
    paired.{{ key }},
    paired.previous_tier,
    paired.current_tier,
    paired.previous_{{ alias }},
    paired.current_{{ alias }},
    case when paired.current_rank > paired.previous_rank then 'up' else 'down' end as direction,
    paired.in_previous_slice,
    paired.in_current_slice,
    {{ dbt.cast("'" ~ var('policy_version') ~ "'", dbt.type_string()) }} as policy_version
from paired
cross join previous_date
where previous_date.previous_as_of_date is not null
  and paired.current_rank <> paired.previous_rank
{%- endmacro %}
