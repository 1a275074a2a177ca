{#-
    Portable type names for the contract's column types (vigil.transforms.contract.SQL_TYPES).
    dbt's own type macros cover most; these fill the gaps. Dispatched, so another adapter can
    override them (e.g. snowflake__type_timestamptz) without touching the models.
-#}

{#- contract "timestamp": an instant, stored with time zone (TIMESTAMPTZ in the raw layer).
    Also valid on Snowflake (TIMESTAMP_TZ) and Trino; BigQuery: 'timestamp' (always UTC). -#}
{% macro type_timestamptz() -%}
    {{ return(adapter.dispatch('type_timestamptz', 'vigil')()) }}
{%- endmacro %}

{% macro default__type_timestamptz() -%}
    {{ return('timestamp with time zone') }}
{%- endmacro %}

{#- contract "decimal": money amounts, DECIMAL(18,2) in the raw layer.
    Also valid on Snowflake and Trino; BigQuery: 'numeric(18,2)'. -#}
{% macro type_amount() -%}
    {{ return(adapter.dispatch('type_amount', 'vigil')()) }}
{%- endmacro %}

{% macro default__type_amount() -%}
    {{ return('decimal(18,2)') }}
{%- endmacro %}
