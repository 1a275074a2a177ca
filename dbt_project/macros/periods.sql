{#-
    One row per reporting period (int_kpi__periods: period_type, period_start) with aggregates over
    the events dated in it: event_date between period_start and the period's cutoff_date
    (period_end, or run_date for the current period), so a past period's figures stay fixed as
    run_date moves on. A period without events still has its row (left join: count() 0, sum() null).

        received as (
            {% call per_period('complaints', 'received_date') -%}
                count(complaints.complaint_id) as n_received
            {%- endcall %}
        )

    events: the CTE (or alias) holding the events; the aggregates, written in the call block, name
    it. periods: the model's CTE over int_kpi__periods. where: an extra join condition on the events
    (e.g. one tier's only). The columns are period_type, period_start, then the call block's.
-#}
{% macro per_period(events, event_date, periods='periods', where=none) -%}
    select
        {{ periods }}.period_type,
        {{ periods }}.period_start,
        {{ caller() }}
    from {{ periods }}
    left join {{ events }}
        on {{ events }}.{{ event_date }} >= {{ periods }}.period_start
        and {{ events }}.{{ event_date }} <= {{ periods }}.cutoff_date
        {%- if where %}
        and {{ where }}
        {%- endif %}
    group by {{ periods }}.period_type, {{ periods }}.period_start
{%- endmacro %}

{#-
    The response-time baseline period (vars response_baseline_start / response_baseline_end,
    'YYYY-MM-DD', docs/models.md): [start, end] as two strings, or none when neither is set (no
    baseline configured: the *_vs_baseline KPIs have no value, never a made-up one). One of the two
    set without the other, a malformed date, or an end before the start stops the build with a
    one-line error naming the var.
-#}
{% macro response_baseline() -%}
    {%- set start = var('response_baseline_start', none) -%}
    {%- set end = var('response_baseline_end', none) -%}
    {%- set start = none if start is none or (start | string | trim) == '' else (start | string | trim) -%}
    {%- set end = none if end is none or (end | string | trim) == '' else (end | string | trim) -%}
    {%- if start is none and end is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for name, value in [('response_baseline_start', start), ('response_baseline_end', end)] -%}
        {%- if value is none or not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
            {{ exceptions.raise_compiler_error(
                "Vigil: the dbt var '" ~ name ~ "' must be a date 'YYYY-MM-DD' (set both response_baseline_start "
                ~ "and response_baseline_end, or neither), got '" ~ (value or '') ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if end < start -%}
        {{ exceptions.raise_compiler_error(
            "Vigil: response_baseline_end (" ~ end ~ ") is before response_baseline_start (" ~ start ~ ")") }}
    {%- endif -%}
    {{ return([start, end]) }}
{%- endmacro %}
