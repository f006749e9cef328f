{#
  Every ratio is stored with its numerator and denominator so roll-ups sum the parts.
  A denominator of zero (or below, where a negative one has no business meaning) or
  NULL gives NULL instead of an error or a misleading sign.
#}
{% macro safe_ratio(numerator, denominator) -%}
    case
        when ({{ denominator }}) is null or ({{ denominator }}) <= 0 then null
        else cast({{ numerator }} as double) / cast({{ denominator }} as double)
    end
{%- endmacro %}
