{#-
    Select the partitions of a raw feed table that a run for `run_date` may see.

    Every nightly load for logical date D writes one partition (_feed_date = D) per table delivered.
    Partitions dated after run_date are never visible, so rebuilding an earlier date is reproducible.

    mode='snapshot'  full snapshot tables: the latest partition on or before run_date
                     (optional tables are not delivered every night; for required tables this is
                     normally run_date itself, and the delivered_on_run_date test warns when not).
    mode='history'   incremental tables: every partition on or before run_date (all versions /
                     accumulated events); picking a winner is left to the models downstream.

    relation: a source()/ref() relation (or, inside dbt unit tests, the fixture dbt substitutes).
-#}
{% macro feed_partition(relation, mode='snapshot', partition_column='_feed_date') -%}
    {%- if mode == 'snapshot' -%}
    select *
    from {{ relation }}
    where {{ partition_column }} = (
        select max({{ partition_column }})
        from {{ relation }}
        where {{ partition_column }} <= {{ run_date_sql() }}
    )
    {%- elif mode == 'history' -%}
    select *
    from {{ relation }}
    where {{ partition_column }} <= {{ run_date_sql() }}
    {%- else -%}
    {{ exceptions.raise_compiler_error("feed_partition: mode must be 'snapshot' or 'history', got '" ~ mode ~ "'") }}
    {%- endif -%}
{%- endmacro %}


{#-
    In an incremental model's run: only the partitions after the last night the stored table has
    folded in (its watermark column, e.g. _versions_through). Nothing in a full build.
    A stored table with no rows folded nothing yet, so every partition is new.
    vigil.incremental decides when a full rebuild must replace the fold (docs/models.md).
-#}
{% macro not_yet_folded(watermark_column, partition_column='_feed_date') -%}
    {%- if is_incremental() -%}
    where {{ partition_column }} > (
        select coalesce(max({{ watermark_column }}), {{ dbt.cast("'1900-01-01'", "date") }}) from {{ this }}
    )
    {%- endif -%}
{%- endmacro %}
