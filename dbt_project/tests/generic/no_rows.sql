{#- Fails (or warns, with severity: warn) when the model has any row: a list that should be empty. -#}
{% test no_rows(model) %}
    select * from {{ model }}
{% endtest %}
