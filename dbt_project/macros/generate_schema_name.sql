{#
  Schemas are the warehouse's real names (staging, intermediate, marts), not dbt's
  default "<target schema>_<custom schema>", so BI, Dagster asset keys and the design
  document all use one name per schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
