{#-
    The calendar date (in UTC) of a timestamp-with-time-zone expression.

    A plain cast(ts as date) depends on the session's TimeZone setting, which differs between
    machines and engines; converting at time zone 'UTC' first makes the result deterministic.
-#}
{% macro utc_date(expression) -%}
    {{ return(adapter.dispatch('utc_date', 'vigil')(expression)) }}
{%- endmacro %}

{% macro default__utc_date(expression) -%}
    cast(({{ expression }}) at time zone 'UTC' as date)
{%- endmacro %}
