{#-
    Passes when no combination of the given columns occurs more than once
    (a composite primary key; the same idea as dbt_utils.unique_combination_of_columns,
    kept local so the project needs no package download).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns_csv = combination_of_columns | join(', ') %}
    select {{ columns_csv }}, count(*) as n_rows
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1
{% endtest %}
