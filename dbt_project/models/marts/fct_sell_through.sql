{%- set trailing_days = (var('trailing_weeks') | int - 1) * 7 %}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_window('week_end_date', week_end_date(window_min_date()), week_end_date(window_max_date()) ~ ' + ' ~ ((var('trailing_weeks') | int - 1) * 7)) }}"
) }}
-- Sell-through, weeks of supply, GMROI and stock-to-sales per item × location × retail week.
-- Sell-through = sold ÷ (sold + closing on-hand), the design's equivalent of sold ÷ (opening
-- on-hand + received) when there is no shrink. Receipts are staged (stg_inventory__receipts,
-- used for stock ageing in fct_stock_exposure), but the committed seeds and Breakfast at the
-- Frat send none, and this form needs none, so it is used for every week.
-- Incremental: a run deletes the weeks that data dated in [var min_date, var max_date] can
-- change (its weeks and the trailing_weeks − 1 weeks after them, through the rate of sale)
-- and rebuilds every week then missing from the table.

with
{%- if is_incremental() %}
rebuild_weeks as (

    select week_end_date from {{ ref('int_demand_weekly') }}
    union
    select week_end_date from {{ ref('int_inventory_weekly') }}
    except
    select week_end_date from {{ this }}

),

-- the rebuilt weeks and the trailing weeks before them, for the rate of sale
input_weeks as (

    select
        cast(min(week_end_date) - {{ trailing_days }} as date) as first_week_end_date,
        max(week_end_date) as last_week_end_date
    from rebuild_weeks

),
{%- endif %}

demand as (

    select * from {{ ref('int_demand_weekly') }}
    {%- if is_incremental() %}
    where week_end_date between (select first_week_end_date from input_weeks)
        and (select last_week_end_date from input_weeks)
    {%- endif %}

),

inventory as (

    select * from {{ ref('int_inventory_weekly') }}
    {%- if is_incremental() %}
    where week_end_date between (select first_week_end_date from input_weeks)
        and (select last_week_end_date from input_weeks)
    {%- endif %}

),

items as (

    select item_id, unit_cost, regular_price from {{ ref('stg_erp__items') }}

),

live_promotions as (

    -- the promotion the week is attributed to (int_promotion_weeks decides, once for all marts)
    select
        item_id,
        location_id,
        week_end_date,
        max(case when is_attributed_week then promotion_id end) as promotion_id,
        count(*) as live_promotion_count
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
        coalesce(live_promotions.live_promotion_count, 0) as live_promotion_count,
        coalesce(demand.units, 0) as units_sold,
        cast(coalesce(demand.net_sales, 0) as decimal(18, 4)) as net_sales,
        inventory.closing_on_hand_units,
        inventory.average_on_hand_units,
        inventory.minimum_on_hand_units,
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
        -- a ratio's parts are both NULL when the week cannot be measured (no closing or average
        -- stock, or a negative one from a bookkeeping lag), so Σ numerator ÷ Σ denominator over
        -- any rows only adds measurable weeks; a zero denominator keeps its parts (0) and the
        -- ratio alone is NULL
        closing_on_hand_units is not null and closing_on_hand_units >= 0 as has_closing_stock,
        average_on_hand_units is not null and average_on_hand_units >= 0 as has_average_stock,
        coalesce(closing_on_hand_units < 0 or minimum_on_hand_units < 0, false) as has_negative_on_hand,
        cast(net_sales - units_sold * unit_cost as decimal(18, 4)) as gross_margin,
        cast(units_sold * vendor_funding_per_unit as decimal(18, 4)) as vendor_funding,
        cast(average_on_hand_units * unit_cost as decimal(18, 4)) as average_inventory_at_cost,
        cast(closing_on_hand_units * regular_price as decimal(18, 4)) as closing_on_hand_at_retail
    from with_rate_of_sale

),

ratio_parts as (

    select
        *,
        case when has_closing_stock then units_sold end as sell_through_numerator,
        case when has_closing_stock then units_sold + closing_on_hand_units end as sell_through_denominator,
        case when has_average_stock then gross_margin end as gmroi_numerator,
        case when has_average_stock then cast(gross_margin + vendor_funding as decimal(18, 4)) end
            as gmroi_net_of_funding_numerator,
        case when has_average_stock then average_inventory_at_cost end as gmroi_denominator,
        case when has_closing_stock and trailing_rate_of_sale_units is not null then closing_on_hand_units end
            as weeks_of_supply_numerator,
        case when has_closing_stock then trailing_rate_of_sale_units end as weeks_of_supply_denominator,
        case when has_closing_stock then closing_on_hand_at_retail end as stock_to_sales_numerator,
        case when has_closing_stock then net_sales end as stock_to_sales_denominator
    from measures

)

select
    item_id,
    location_id,
    week_end_date,
    is_promoted,
    promotion_id,
    cast(live_promotion_count as integer) as live_promotion_count,
    cast(units_sold as double) as units_sold,
    net_sales,
    cast(closing_on_hand_units as double) as closing_on_hand_units,
    has_negative_on_hand,
    cast(sell_through_numerator as double) as sell_through_numerator,
    cast(sell_through_denominator as double) as sell_through_denominator,
    {{ safe_ratio('sell_through_numerator', 'sell_through_denominator') }} as sell_through_rate,
    gross_margin,
    vendor_funding,
    cast(average_on_hand_units as double) as average_on_hand_units,
    average_inventory_at_cost,
    gmroi_numerator,
    gmroi_denominator,
    {{ safe_ratio('gmroi_numerator', 'gmroi_denominator') }} as gmroi,
    gmroi_net_of_funding_numerator,
    {{ safe_ratio('gmroi_net_of_funding_numerator', 'gmroi_denominator') }} as gmroi_net_of_funding,
    trailing_in_stock_weeks,
    cast(weeks_of_supply_numerator as double) as weeks_of_supply_numerator,
    cast(weeks_of_supply_denominator as double) as weeks_of_supply_denominator,
    {{ safe_ratio('weeks_of_supply_numerator', 'weeks_of_supply_denominator') }} as weeks_of_supply,
    stock_to_sales_numerator,
    stock_to_sales_denominator,
    {{ safe_ratio('stock_to_sales_numerator', 'stock_to_sales_denominator') }} as stock_to_sales
from ratio_parts
{%- if is_incremental() %}
where week_end_date in (select week_end_date from rebuild_weeks)
{%- endif %}
