{#-
    Composite-key version of dbt's `relationships` test: every row of `model` whose key columns are
    all non-null must find a row in `to` with the same values in `to_columns` (defaults to the same
    names). Example: fct_entitlements (system, account_id) -> dim_accounts (system, account_id).
-#}
{% test relationships_composite(model, columns, to, to_columns=none) %}
    {%- set parent_columns = to_columns if to_columns is not none else columns %}
    select {% for c in columns %}child.{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ model }} as child
    where {% for c in columns %}child.{{ c }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
      and not exists (
        select 1
        from {{ to }} as parent
        where {% for i in range(columns | length) %}parent.{{ parent_columns[i] }} = child.{{ columns[i] }}{% if not loop.last %} and {% endif %}{% endfor %}
      )
{% endtest %}
