{#-
    Passes when `model` holds the partition of run_date itself (column_name = run_date).
    Put on staging models of REQUIRED snapshot tables: they should be delivered every night, and
    feed_partition() silently falls back to the latest earlier partition when they were not.
    Usually configured with severity warn: stale data is a signal, not a reason to stop the night.
-#}
{% test delivered_on_run_date(model, column_name='_feed_date') %}
    select {{ run_date_sql() }} as missing_feed_date
    where not exists (
        select 1 from {{ model }} where {{ column_name }} = {{ run_date_sql() }}
    )
{% endtest %}
