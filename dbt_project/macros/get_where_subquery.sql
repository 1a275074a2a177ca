{#-
    dbt's own get_where_subquery (the `where` config of a data test), plus one placeholder:
    __run_date__ becomes the run date (run_date_sql()) when the test runs.

    Why: the staging views of the incremental feeds (login events, every night's account snapshot,
    every complaint and complainant version) hold every partition ever delivered. Their tests say
    `where: "_feed_date = __run_date__"`: each night checks the partition it delivered, and earlier
    partitions were checked on their own nights, so the tests cost a night's rows, not the whole
    history. The run date cannot be written into the config itself: configs are rendered when dbt
    parses the project, and the run date is only known while executing (see run_date()).
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- if '__run_date__' in where -%}
            {%- set where = where | replace('__run_date__', run_date_sql()) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
