-- Sell-through, weeks of supply, GMROI and stock-to-sales per item × location × retail week.
-- This version has no receipts entity, so sell-through = sold ÷ (sold + closing on-hand),
-- the design's equivalent of sold ÷ (opening on-hand + received) when there is no shrink.
{%- set trailing_days = (var('trailing_weeks') | int - 1) * 7 %}

with demand as (

    select * from {{ ref('int_demand_weekly') }}

),

inventory as (

    select * from {{ ref('int_inventory_weekly') }}

),

items as (

    select item_id, unit_cost, regular_price from {{ ref('stg_erp__items') }}

),

live_promotions as (

    select
        item_id,
        location_id,
        week_end_date,
        min(promotion_id) as promotion_id
    from {{ ref('int_promotion_weeks') }}
    group by item_id, location_id, week_end_date

),

approved_promotions as (

    select promotion_id, item_id, location_id, vendor_funding_per_unit
    from {{ ref('stg_erp__promotions') }}
    where is_approved

),

-- a week exists for an item × location when it sold or was counted
item_location_weeks as (

    select item_id, location_id, week_end_date from demand
    union
    select item_id, location_id, week_end_date from inventory

),

weekly as (

    select
        item_location_weeks.item_id,
        item_location_weeks.location_id,
        item_location_weeks.week_end_date,
        live_promotions.promotion_id is not null as is_promoted,
        live_promotions.promotion_id,
        coalesce(demand.units, 0) as units_sold,
        cast(coalesce(demand.net_sales, 0) as decimal(18, 4)) as net_sales,
        inventory.closing_on_hand_units,
        inventory.average_on_hand_units,
        items.unit_cost,
        items.regular_price,
        -- per-unit (scan-back / off-invoice) funding of the promotion the week is attributed to;
        -- lump sums are not spread over weeks here (see fct_promotion_profitability)
        coalesce(approved_promotions.vendor_funding_per_unit, 0) as vendor_funding_per_unit
    from item_location_weeks
    left join demand
        on item_location_weeks.item_id = demand.item_id
        and item_location_weeks.location_id = demand.location_id
        and item_location_weeks.week_end_date = demand.week_end_date
    left join inventory
        on item_location_weeks.item_id = inventory.item_id
        and item_location_weeks.location_id = inventory.location_id
        and item_location_weeks.week_end_date = inventory.week_end_date
    left join live_promotions
        on item_location_weeks.item_id = live_promotions.item_id
        and item_location_weeks.location_id = live_promotions.location_id
        and item_location_weeks.week_end_date = live_promotions.week_end_date
    left join approved_promotions
        on live_promotions.promotion_id = approved_promotions.promotion_id
        and live_promotions.item_id = approved_promotions.item_id
        and live_promotions.location_id = approved_promotions.location_id
    left join items on item_location_weeks.item_id = items.item_id

),

with_rate_of_sale as (

    select
        weekly.*,
        -- rate of sale over the trailing weeks (this one included) that closed in stock;
        -- weeks that sold out or were not counted would understate demand
        avg(case when closing_on_hand_units > 0 then units_sold end) over trailing_weeks
            as trailing_rate_of_sale_units,
        cast(count(case when closing_on_hand_units > 0 then 1 end) over trailing_weeks as integer)
            as trailing_in_stock_weeks
    from weekly
    window trailing_weeks as (
        partition by item_id, location_id
        order by week_end_date
        range between interval {{ trailing_days }} days preceding and current row
    )

),

measures as (

    select
        *,
        units_sold + closing_on_hand_units as sell_through_denominator,
        cast(net_sales - units_sold * unit_cost as decimal(18, 4)) as gross_margin,
        cast(units_sold * vendor_funding_per_unit as decimal(18, 4)) as vendor_funding,
        cast(average_on_hand_units * unit_cost as decimal(18, 4)) as average_inventory_at_cost,
        cast(closing_on_hand_units * regular_price as decimal(18, 4)) as closing_on_hand_at_retail
    from with_rate_of_sale

)

select
    item_id,
    location_id,
    week_end_date,
    is_promoted,
    promotion_id,
    cast(units_sold as double) as units_sold,
    net_sales,
    cast(closing_on_hand_units as double) as closing_on_hand_units,
    cast(units_sold as double) as sell_through_numerator,
    cast(sell_through_denominator as double) as sell_through_denominator,
    {{ safe_ratio('units_sold', 'sell_through_denominator') }} as sell_through_rate,
    gross_margin,
    vendor_funding,
    cast(average_on_hand_units as double) as average_on_hand_units,
    average_inventory_at_cost,
    gross_margin as gmroi_numerator,
    average_inventory_at_cost as gmroi_denominator,
    {{ safe_ratio('gross_margin', 'average_inventory_at_cost') }} as gmroi,
    cast(gross_margin + vendor_funding as decimal(18, 4)) as gmroi_net_of_funding_numerator,
    {{ safe_ratio('gross_margin + vendor_funding', 'average_inventory_at_cost') }} as gmroi_net_of_funding,
    trailing_in_stock_weeks,
    cast(closing_on_hand_units as double) as weeks_of_supply_numerator,
    cast(trailing_rate_of_sale_units as double) as weeks_of_supply_denominator,
    {{ safe_ratio('closing_on_hand_units', 'trailing_rate_of_sale_units') }} as weeks_of_supply,
    closing_on_hand_at_retail as stock_to_sales_numerator,
    net_sales as stock_to_sales_denominator,
    {{ safe_ratio('closing_on_hand_at_retail', 'net_sales') }} as stock_to_sales
from measures
