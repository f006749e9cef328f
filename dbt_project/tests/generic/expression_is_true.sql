{#
  Every row satisfies a SQL boolean expression (rows where it is false fail; NULL passes).
  Usable on a model or on a column; the column is only a label, the expression says it all.
#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not ({{ expression }})
{% endtest %}
