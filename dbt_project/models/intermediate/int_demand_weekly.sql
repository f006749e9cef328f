{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_window('week_end_date', week_end_date(window_min_date()), week_end_date(window_max_date())) }}"
) }}
-- One row per item × location × retail week that has POS sales: the demand series the
-- forecasting step fits, with the promotion inputs (discount depth observed at the till,
-- feature and display from the approved promotions live that week).
-- Incremental: a run rebuilds the retail weeks touching [var min_date, var max_date].
with sales as (

    select
        item_id,
        location_id,
        {{ week_end_date('business_date') }} as week_end_date,
        units,
        net_sales,
        discount_amount
    from {{ ref('stg_pos__sales') }}
    {%- if is_incremental() %}
    where business_date between {{ week_end_date(window_min_date()) }} - 6 and {{ week_end_date(window_max_date()) }}
    {%- endif %}

),

weekly_sales as (

    select
        item_id,
        location_id,
        week_end_date,
        sum(units) as units,
        sum(net_sales) as net_sales,
        sum(discount_amount) as discount_amount
    from sales
    group by item_id, location_id, week_end_date

),

live_promotions as (

    -- several approved promotions can be live in one week: a week is featured (displayed)
    -- when any of them is; its promotion_id is the one int_promotion_weeks attributes it to
    select
        item_id,
        location_id,
        week_end_date,
        max(case when is_attributed_week then promotion_id end) as promotion_id,
        max(feature) as feature,
        max(display) as display
    from {{ ref('int_promotion_weeks') }}
    group by item_id, location_id, week_end_date

)

select
    weekly_sales.item_id,
    weekly_sales.location_id,
    weekly_sales.week_end_date,
    cast(weekly_sales.units as double) as units,
    cast(weekly_sales.net_sales as double) as net_sales,
    cast(weekly_sales.net_sales + weekly_sales.discount_amount as double) as regular_price_sales,
    cast(
        case
            when weekly_sales.discount_amount <= 0
                or weekly_sales.net_sales + weekly_sales.discount_amount <= 0 then 0
            else least(1, greatest(0,
                cast(weekly_sales.discount_amount as double)
                / cast(weekly_sales.net_sales + weekly_sales.discount_amount as double)))
        end as double
    ) as discount_depth,
    cast(coalesce(live_promotions.feature, 0) as integer) as feature,
    cast(coalesce(live_promotions.display, 0) as integer) as display,
    live_promotions.promotion_id is not null as is_promoted,
    live_promotions.promotion_id
from weekly_sales
left join live_promotions
    on weekly_sales.item_id = live_promotions.item_id
    and weekly_sales.location_id = live_promotions.location_id
    and weekly_sales.week_end_date = live_promotions.week_end_date
