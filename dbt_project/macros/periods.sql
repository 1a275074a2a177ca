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
