{#-
    Dates and instants, portably. Each macro is dispatched (adapter.dispatch(..., 'vigil')), so
    another adapter overrides one by defining <adapter>__<name> in this folder without touching a
    model. DuckDB and PostgreSQL (the tested adapters) both use the default__ versions; the notes
    say what other engines need where the default is not valid there. docs/deployment.md
    ("Portability") lists every dispatched macro.
-#}

{#-
    The calendar date (in UTC) of a timestamp-with-time-zone expression.

    A plain cast(ts as date) depends on the session's TimeZone setting, which differs between
    machines and engines; converting at time zone 'UTC' first makes the result deterministic.
    The default is also valid on Trino. Elsewhere:
      Snowflake  cast(convert_timezone('UTC', <ts>) as date)
      BigQuery   date(<ts>, 'UTC')
-#}
{% macro utc_date(expression) -%}
    {{ return(adapter.dispatch('utc_date', 'vigil')(expression)) }}
{%- endmacro %}

{% macro default__utc_date(expression) -%}
    cast(({{ expression }}) at time zone 'UTC' as date)
{%- endmacro %}


{#-
    The instant at `time_of_day` ('HH:MM:SS', UTC) on a date, as type_timestamptz(): due times
    ('23:59:59': the end of the due day) and the start of a day ('00:00:00').

    Built from text with an explicit '+00:00' offset, never by casting a date to a timestamp,
    which would take the session's time zone. The text is ISO 8601 with a full '+HH:MM' offset,
    the form Snowflake and BigQuery document for timestamp input (tested: DuckDB, PostgreSQL);
    BigQuery also needs type_timestamptz() -> timestamp (types.sql).
-#}
{% macro utc_instant(date_expression, time_of_day) -%}
    {%- if not modules.re.match('^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$', time_of_day) -%}
        {{ exceptions.raise_compiler_error("utc_instant: time_of_day must be 'HH:MM:SS', got '" ~ time_of_day ~ "'") }}
    {%- endif -%}
    {{ return(adapter.dispatch('utc_instant', 'vigil')(date_expression, time_of_day)) }}
{%- endmacro %}

{% macro default__utc_instant(date_expression, time_of_day) -%}
    {{ dbt.cast(dbt.concat([dbt.cast(date_expression, dbt.type_string()), "' " ~ time_of_day ~ "+00:00'"]), type_timestamptz()) }}
{%- endmacro %}


{#-
    A timestamp-with-time-zone as UTC wall-clock text ('YYYY-MM-DD HH:MM:SS[.ffffff]', no offset),
    for keys that must not depend on the session's time zone (the AL-03 alert_key).
    Keys only need to be stable on one warehouse, not equal across engines. Elsewhere:
      Snowflake  to_varchar(convert_timezone('UTC', <ts>), 'YYYY-MM-DD HH24:MI:SS.FF6')
      BigQuery   format_timestamp('%F %H:%M:%E*S', <ts>, 'UTC')
-#}
{% macro utc_timestamp_text(expression) -%}
    {{ return(adapter.dispatch('utc_timestamp_text', 'vigil')(expression)) }}
{%- endmacro %}

{% macro default__utc_timestamp_text(expression) -%}
    {{ dbt.cast("(" ~ expression ~ ") at time zone 'UTC'", dbt.type_string()) }}
{%- endmacro %}


{#-
    ISO day of the week of a date: 1 = Monday ... 7 = Sunday.

    Engines disagree here (PostgreSQL/DuckDB extract(isodow ...), Snowflake dayofweekiso,
    BigQuery extract(dayofweek ...) with 1 = Sunday, Trino day_of_week), so the default counts days
    from a known Monday (1900-01-01) with dbt.datediff, which every dbt adapter implements: it is
    valid wherever dbt.datediff is. The inner mod() is folded into 0..6 a second time because
    mod() keeps the sign of the dividend, so dates before 1900 come out right too.
-#}
{% macro iso_day_of_week(date_expression) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'vigil')(date_expression)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expression) -%}
    (mod(mod({{ dbt.datediff(dbt.cast("'1900-01-01'", 'date'), date_expression, 'day') }}, 7) + 7, 7) + 1)
{%- endmacro %}
