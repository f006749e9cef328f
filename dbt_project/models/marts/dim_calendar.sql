-- One row per calendar day with its retail week (named by its last day, var week_end_dow).
-- The range covers every retail week the data mentions (sales, snapshots, promotions), plus
-- var calendar_future_weeks of weeks for the forecast horizon and planned promotions. Retail
-- year = the calendar year of the week's last day; retail week 1 is the week ending in 1–7
-- January, so a retail year has 52 or 53 weeks. The weeks of sales and snapshots are read from
-- the weekly intermediate tables: on 50 million POS rows, reading the staging view for two
-- dates cost half a minute.
{%- set future_days = var('calendar_future_weeks') | int * 7 %}

with data_weeks as (

    select min(week_end_date) as first_week_end_date, max(week_end_date) as last_week_end_date
    from {{ ref('int_demand_weekly') }}
    union all
    select min(week_end_date), max(week_end_date) from {{ ref('int_inventory_weekly') }}
    union all
    select {{ week_end_date('min(start_date)') }}, {{ week_end_date('max(end_date)') }}
    from {{ ref('stg_erp__promotions') }}

),

bounds as (

    select
        cast(min(first_week_end_date) - 6 as date) as first_day,
        cast(max(last_week_end_date) + {{ future_days }} as date) as last_day
    from data_weeks

),

days as (

    select cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as date_day
    from bounds
    where first_day is not null

),

weeks as (

    select
        date_day,
        {{ week_end_date('date_day') }} as week_end_date
    from days

)

select
    date_day,
    week_end_date,
    cast(week_end_date - 6 as date) as week_start_date,
    cast(7 - datediff('day', date_day, week_end_date) as integer) as day_of_retail_week,
    date_day = week_end_date as is_week_end_day,
    cast(isodow(date_day) as integer) as iso_day_of_week,
    dayname(date_day) as day_name,
    cast(year(week_end_date) as integer) as retail_year,
    cast((dayofyear(week_end_date) - 1) // 7 + 1 as integer) as retail_week_of_year,
    cast(year(date_day) as integer) as calendar_year,
    cast(quarter(date_day) as integer) as calendar_quarter,
    cast(month(date_day) as integer) as calendar_month,
    monthname(date_day) as month_name,
    cast({{ var('week_end_dow') }} as integer) as week_end_dow
from weeks
