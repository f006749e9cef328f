{#
  Date window of an incremental build. Dagster's daily partitions pass var min_date / var
  max_date (the days whose extracts changed); the defaults cover every date, so a plain
  `dbt build` recomputes everything and gives the same rows as `--full-refresh`.
  An incremental model deletes the rows the window can affect (a pre-hook, in the same
  transaction as the insert) and rebuilds the window; the facts and the two staging tables also
  build every period that is then missing from the table, so a period outside the window that is
  new in the data is built too (docs/marts.md lists which models do). New rows for a period the
  table already holds, outside the window, wait for a build without a window.
#}
{% macro window_min_date() -%}
    cast('{{ var("min_date") }}' as date)
{%- endmacro %}

{% macro window_max_date() -%}
    cast('{{ var("max_date") }}' as date)
{%- endmacro %}

{#- Delete the rows of {{ this }} whose date column lies in [lower, upper] (upper none: every
    date from lower on), or that meet extra_condition (incremental runs only). -#}
{% macro delete_window(date_column, lower, upper, extra_condition=none) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        {%- if upper is none %}
        where {{ date_column }} >= {{ lower }}
        {%- else %}
        where {{ date_column }} between {{ lower }} and {{ upper }}
        {%- endif %}
        {%- if extra_condition %} or {{ extra_condition }}{% endif %}
    {%- endif -%}
{%- endmacro %}

{#- The raw rows an incremental staging table (deduplicated per date) must stage: on a full build
    every row; on an incremental one the rows of every date missing from {{ this }} (the window's,
    which the pre-hook deleted, and any never staged) and rows without a date. -#}
{% macro raw_rows_to_stage(relation, date_column) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where {{ date_column }} is null
        or cast({{ date_column }} as date) in (
            select distinct cast({{ date_column }} as date) from {{ relation }}
            except
            select distinct {{ date_column }} from {{ this }}
        )
    {%- endif %}
{%- endmacro %}
