{#
  Row-level rules of a model checked in ONE scan of it: its grain (unique_key), columns that
  must not be NULL (not_null) and columns that must match a key of another model (references:
  a list of {column, to, field}; NULL values are not checked, as in dbt's relationships test).

  Written for the staging models over the big raw tables (stg_pos__sales,
  stg_inventory__snapshots): when they were views every test re-ran their deduplication, and they
  are still the largest relations, so one scan checks every rule (docs/benchmarks.md). This test
  returns one row per failing key, with how many rows share the key and how many break each rule.
#}
{% test valid_rows(model, unique_key=[], not_null=[], references=[]) %}
    {%- set rule_columns = [] -%}
    {%- for column in not_null -%}
        {%- do rule_columns.append('null_' ~ column) -%}
    {%- endfor -%}
    {%- for reference in references -%}
        {%- do rule_columns.append('unmatched_' ~ reference['column']) -%}
    {%- endfor -%}
    {%- if not unique_key and not rule_columns -%}
        {{ exceptions.raise_compiler_error("valid_rows on " ~ model ~ " needs unique_key, not_null or references") }}
    {%- endif -%}
    {%- set needed = unique_key + not_null + references | map(attribute='column') | list -%}

with model_rows as (

    select {{ needed | unique | join(', ') }}
    from {{ model }}

),

{%- for reference in references %}

reference_{{ loop.index }} as (

    select distinct {{ reference['field'] }} as referenced_key
    from {{ reference['to'] }}
    where {{ reference['field'] }} is not null

),
{%- endfor %}

flagged_rows as (

    select
        {%- for column in unique_key %}
        model_rows.{{ column }},
        {%- endfor %}
        {%- for column in not_null %}
        case when model_rows.{{ column }} is null then 1 else 0 end as null_{{ column }},
        {%- endfor %}
        {%- for reference in references %}
        case
            when model_rows.{{ reference['column'] }} is not null and reference_{{ loop.index }}.referenced_key is null
                then 1 else 0
        end as unmatched_{{ reference['column'] }},
        {%- endfor %}
        1 as row_count
    from model_rows
    {%- for reference in references %}
    left join reference_{{ loop.index }}
        on model_rows.{{ reference['column'] }} = reference_{{ loop.index }}.referenced_key
    {%- endfor %}

),

per_key as (

    select
        {%- for column in unique_key %}
        {{ column }},
        {%- endfor %}
        {%- for rule in rule_columns %}
        sum({{ rule }}) as {{ rule }}_rows,
        {%- endfor %}
        sum(row_count) as rows_with_key
    from flagged_rows
    {%- if unique_key %}
    group by {{ unique_key | join(', ') }}
    {%- endif %}

)

select *
from per_key
where false
    {%- if unique_key %}
    or rows_with_key > 1
    {%- endif %}
    {%- for rule in rule_columns %}
    or {{ rule }}_rows > 0
    {%- endfor %}

{% endtest %}
