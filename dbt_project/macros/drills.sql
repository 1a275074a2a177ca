{#-
    Drills (docs/drills.md): every id a drill injects starts with DRILL- (vigil.config.DRILL_PREFIX),
    alone or as a part of a compound subject ('AD:DRILL-A...'). True for a drill's row: the rules
    handle it like any other, and every KPI leaves it out.
-#}
{% macro is_drill(column) -%}
    coalesce({{ column }} like 'DRILL-%' or {{ column }} like '%:DRILL-%' or {{ column }} like '%|DRILL-%', false)
{%- endmacro %}

{#- `not is_drill(column)`, for a macro's where argument (review_slice). -#}
{% macro is_drill_negated(column) -%}
    not {{ is_drill(column) }}
{%- endmacro %}
