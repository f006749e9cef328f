-- Sell-through over each approved promotion line's window: the retail weeks the promotion
-- touches that have sales or stock data. sell-through = units sold in the window ÷ (units sold
-- + closing on-hand of the window's last week), the same definition as fct_sell_through over a
-- longer period; opening on-hand is the closing on-hand of the week before the window. A window
-- measure: two overlapping promotions share weeks here, so do not add windows of one item ×
-- location together (fct_sell_through is the additive weekly view).
with promotion_weeks as (

    select promotion_id, item_id, location_id, week_end_date
    from {{ ref('int_promotion_weeks') }}

),

demand as (

    select item_id, location_id, week_end_date, units, net_sales from {{ ref('int_demand_weekly') }}

),

inventory as (

    select item_id, location_id, week_end_date, closing_on_hand_units from {{ ref('int_inventory_weekly') }}

),

window_weeks as (

    select
        promotion_weeks.promotion_id,
        promotion_weeks.item_id,
        promotion_weeks.location_id,
        promotion_weeks.week_end_date,
        demand.units,
        demand.net_sales,
        inventory.closing_on_hand_units,
        demand.week_end_date is not null or inventory.week_end_date is not null as has_data
    from promotion_weeks
    left join demand
        on promotion_weeks.item_id = demand.item_id
        and promotion_weeks.location_id = demand.location_id
        and promotion_weeks.week_end_date = demand.week_end_date
    left join inventory
        on promotion_weeks.item_id = inventory.item_id
        and promotion_weeks.location_id = inventory.location_id
        and promotion_weeks.week_end_date = inventory.week_end_date

),

windows as (

    select
        promotion_id,
        item_id,
        location_id,
        min(week_end_date) as first_week_end_date,
        max(week_end_date) as last_week_end_date,
        count(*) as weeks_with_data,
        sum(coalesce(units, 0)) as units_sold,
        sum(coalesce(net_sales, 0)) as net_sales,
        arg_max(closing_on_hand_units, week_end_date) as closing_on_hand_units
    from window_weeks
    where has_data
    group by promotion_id, item_id, location_id

),

measured as (

    select
        windows.*,
        opening.closing_on_hand_units as opening_on_hand_units,
        windows.closing_on_hand_units is not null and windows.closing_on_hand_units >= 0 as has_closing_stock
    from windows
    left join inventory as opening
        on windows.item_id = opening.item_id
        and windows.location_id = opening.location_id
        and opening.week_end_date = cast(windows.first_week_end_date - 7 as date)

)

select
    promotion_id,
    item_id,
    location_id,
    first_week_end_date,
    last_week_end_date,
    cast(weeks_with_data as integer) as weeks_with_data,
    cast(units_sold as double) as units_sold,
    cast(net_sales as decimal(18, 4)) as net_sales,
    cast(opening_on_hand_units as double) as opening_on_hand_units,
    cast(closing_on_hand_units as double) as closing_on_hand_units,
    cast(case when has_closing_stock then units_sold end as double) as sell_through_numerator,
    cast(case when has_closing_stock then units_sold + closing_on_hand_units end as double) as sell_through_denominator,
    case when has_closing_stock then {{ safe_ratio('units_sold', 'units_sold + closing_on_hand_units') }} end
        as sell_through_rate
from measured
