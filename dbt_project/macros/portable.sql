{#-
    Functions whose SQL differs between warehouses and that dbt's cross-database macros do not
    cover. Dispatched (adapter.dispatch(..., 'vigil')): another adapter overrides one with
    <adapter>__<name> in this folder, without touching a model. DuckDB and PostgreSQL (the tested
    adapters) both use the default__ versions; the notes say where the default is not valid.
-#}

{#-
    The median of `expression` as an aggregate (exact, interpolating: the mean of the two middle
    values for an even count; NULLs ignored; NULL for no rows).

    The ordered-set aggregate of the default runs on DuckDB, PostgreSQL, Snowflake and Redshift.
    Not elsewhere, and there is no exact drop-in:
      BigQuery   percentile_cont(x, 0.5) is an analytic (window) function only; as an aggregate,
                 approx_quantiles(x, 2)[offset(1)] is approximate and does not interpolate
      Trino      approx_percentile(x, 0.5): approximate, does not interpolate
    so a bigquery__/trino__ variant changes results for even counts; say so if you add one.
-#}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'vigil')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}


{#-
    The greatest of the expressions, ignoring NULLs (NULL only when all are NULL).

    greatest() ignores NULLs on DuckDB and PostgreSQL but returns NULL if any argument is NULL on
    Snowflake, BigQuery, MySQL and others. Coalescing every argument with the others first gives
    the same answer everywhere: coalesce_greatest(a, b) -> greatest(coalesce(a, b), coalesce(b, a));
    with more arguments each is coalesced with the rest in turn.
-#}
{% macro coalesce_greatest() -%}
    {%- if varargs | length < 2 -%}
        {{ exceptions.raise_compiler_error("coalesce_greatest needs at least two expressions") }}
    {%- endif -%}
    {{ return(adapter.dispatch('coalesce_greatest', 'vigil')(varargs | list)) }}
{%- endmacro %}

{% macro default__coalesce_greatest(expressions) -%}
    {{ vigil._each_coalesced_with_the_rest('greatest', expressions) }}
{%- endmacro %}

{#- function(coalesce(a, b, c), coalesce(b, c, a), coalesce(c, a, b)): each argument falls back on the others -#}
{% macro _each_coalesced_with_the_rest(function, expressions) -%}
    {%- set n = expressions | length -%}
    {{ function }}(
    {%- for i in range(n) -%}
        coalesce({% for j in range(n) %}{{ expressions[(i + j) % n] }}{% if not loop.last %}, {% endif %}{% endfor %})
        {%- if not loop.last %}, {% endif -%}
    {%- endfor -%}
    )
{%- endmacro %}


{#-
    `expression` without the leading run of the given characters: trim_leading_chars(id, '0')
    turns '0000017' into '17' ('000' into '').

    Two-argument ltrim(string, characters) is valid on DuckDB, PostgreSQL, Snowflake, BigQuery,
    Redshift and Trino. Spark/Databricks read ltrim's two arguments the other way round: use
    trim(leading '<chars>' from <expression>) there.
-#}
{% macro trim_leading_chars(expression, characters) -%}
    {{ return(adapter.dispatch('trim_leading_chars', 'vigil')(expression, characters)) }}
{%- endmacro %}

{% macro default__trim_leading_chars(expression, characters) -%}
    ltrim({{ expression }}, '{{ characters | replace("'", "''") }}')
{%- endmacro %}


{#-
    The least of the expressions, ignoring NULLs (NULL only when all are NULL): the counterpart of
    coalesce_greatest, for the same reason (least() returns NULL if any argument is NULL on
    Snowflake, BigQuery, MySQL and others).
-#}
{% macro coalesce_least() -%}
    {%- if varargs | length < 2 -%}
        {{ exceptions.raise_compiler_error("coalesce_least needs at least two expressions") }}
    {%- endif -%}
    {{ return(adapter.dispatch('coalesce_least', 'vigil')(varargs | list)) }}
{%- endmacro %}

{% macro default__coalesce_least(expressions) -%}
    {{ vigil._each_coalesced_with_the_rest('least', expressions) }}
{%- endmacro %}
