{#-
    History tables that keep one slice per run date (the *_history marts and the review layer).

    slice_per_run_config(slice_column): the config such a table shares, for
        {{ config(**slice_per_run_config('as_of_date')) }}
    A run replaces the slice of its own run date (delete+insert on slice_column) and leaves every
    other slice alone, so rerunning a night is idempotent and a backfill of an earlier date does not
    touch later ones. full_refresh=false: --full-refresh does not wipe the history (to restart it,
    drop the table and rerun the nights); vigil.store.incremental relies on that too.
    Returns a dict, so a model adds its own keys (e.g. post_hook) beside it.
-#}
{% macro slice_per_run_config(slice_column) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': slice_column,
        'on_schema_change': 'append_new_columns',
        'full_refresh': false,
    }) }}
{%- endmacro %}


{#-
    Post-hook of the review tables: keep only the latest slice of each calendar quarter, i.e. the
    state at the quarter's last night (the quarterly review pack reads it; docs/review-pack.md).
    A rerun of a night replaces its slice; a backfill of an earlier night of a quarter that has a
    later slice is deleted again here, leaving that later slice alone.
    Use inside a hook string, so that `this` is the model's relation when the hook runs:
        post_hook=["{{ keep_latest_slice_per_quarter('snapshot_date') }}"]
    Valid on DuckDB and PostgreSQL (window function over the distinct slices; dbt.date_trunc).
-#}
{% macro keep_latest_slice_per_quarter(slice_column) -%}
    delete from {{ this }} where {{ slice_column }} in (
        select {{ slice_column }} from (
            select {{ slice_column }},
                   max({{ slice_column }}) over (partition by {{ dbt.cast(dbt.date_trunc('quarter', slice_column), 'date') }}) as quarter_latest
            from (select distinct {{ slice_column }} from {{ this }}) as slices
        ) as ranked
        where {{ slice_column }} < quarter_latest
    )
{%- endmacro %}


{#-
    The previous slice of a history table (one slice per run date): its rows of the latest
    as_of_date before run_date; no rows when it holds no earlier slice. history: a relation or CTE
    name; columns: what to select (default every column).
-#}
{% macro previous_run_slice(history, columns=['*']) -%}
    select {{ columns | join(', ') }}
    from {{ history }}
    where as_of_date = (
        select max(as_of_date) from {{ history }} where as_of_date < {{ run_date_sql() }}
    )
{%- endmacro %}


{#-
    The select of a review table that keeps, per quarter, the columns the review pack shows of a
    published table: snapshot_date = run_date, then `columns` as published (already cast by the
    source's own contract). where: an optional filter.
-#}
{% macro review_slice(relation, columns, where=none) -%}
    select
        {{ run_date_sql() }} as snapshot_date,
        {{ columns | join(',\n        ') }}
    from {{ relation }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
{%- endmacro %}
