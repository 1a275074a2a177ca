{#-
    The run's logical date ('YYYY-MM-DD'), REQUIRED: the dbt var `run_date`, or else the
    environment variable VIGIL_RUN_DATE (what vigil.dbt_runner sets).

    Every model is computed "as of" this date (never the wall clock), so rebuilding a date
    reproduces the same tables. While dbt only parses the project (execute is false: dbt parse,
    dbt ls, docs) a placeholder is returned so those commands work without the date; anything that
    runs SQL fails with a clear message when it is missing or malformed.
    Why an environment variable: a changed --vars makes dbt re-parse the whole project (~10 s a
    night); the environment is read only while executing, so the parsed project stays valid from one
    night to the next.
-#}
{% macro run_date() -%}
    {%- set value = var('run_date', none) -%}
    {%- if (value is none or (value | string | trim) == '') and execute -%}
        {%- set value = env_var('VIGIL_RUN_DATE', '') -%}
    {%- endif -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error(
                "Vigil: the run date is required (the run's logical date, 'YYYY-MM-DD'): set VIGIL_RUN_DATE "
                ~ "or pass the dbt var, e.g. dbt build --vars '{run_date: 2024-03-31}'") }}
        {%- endif -%}
        {{ return('1970-01-01') }}
    {%- endif -%}
    {%- set text = value | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {{ exceptions.raise_compiler_error(
            "Vigil: the dbt var 'run_date' must be a date 'YYYY-MM-DD', got '" ~ text ~ "'") }}
    {%- endif -%}
    {%- set year, month, day = text[0:4] | int, text[5:7] | int, text[8:10] | int -%}
    {%- set month_ok = 1 <= month <= 12 -%}
    {%- if month_ok -%}
        {#- last day of the month: the day before the 1st of the next month -#}
        {%- set next_first = modules.datetime.date(year + (month // 12), month % 12 + 1, 1) -%}
        {%- set days_in_month = (next_first - modules.datetime.timedelta(days=1)).day -%}
    {%- endif -%}
    {%- if not month_ok or not (1 <= day <= days_in_month) -%}
        {{ exceptions.raise_compiler_error("Vigil: the dbt var 'run_date' is not a valid date: '" ~ text ~ "'") }}
    {%- endif -%}
    {{ return(text) }}
{%- endmacro %}

{#- The run date as a SQL date literal: cast('YYYY-MM-DD' as date). -#}
{% macro run_date_sql() -%}
    {{ return(dbt.cast("'" ~ run_date() ~ "'", 'date')) }}
{%- endmacro %}
