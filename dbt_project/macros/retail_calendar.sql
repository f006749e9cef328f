{#
  The retail week containing a date, named by its last day:
  week_end_date(d) = d + ((week_end_dow − isodow(d) + 7) % 7) days.
  week_end_dow is the ISO weekday that closes the week (var, default 3 = Wednesday).
#}
{% macro week_end_date(date_expr) -%}
    cast(
        cast({{ date_expr }} as date)
        + cast((({{ var('week_end_dow') }} - isodow(cast({{ date_expr }} as date)) + 7) % 7) as integer)
        as date
    )
{%- endmacro %}
