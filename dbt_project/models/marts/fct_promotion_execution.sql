{{ config(tags=['post_forecast']) }}
-- Promotion execution per approved promotion × item × location that has started by the latest
-- POS date: store price compliance day by day, stock-outs during the campaign with the units
-- they cost (from the forecast, uplift included), launch checks and margin-erosion flags.
-- Every promoted day takes its stock state from the latest snapshot on or before it (on-hand
-- ≤ 0), or from its own snapshot's stock-out hours; days before the first snapshot are of
-- unknown stock and left out of the stock-out rate. Lost units of an attributed history week =
-- least(the week's shortfall max(0, predicted − actual), predicted ÷ 7 × its promoted days out
-- of stock): the forecast's demand on the empty-shelf days, never more than the week missed.
-- A promoted day is checked against the POS row covering it: the day's own row, or the weekly
-- summary (period_days = 7) of its retail week. The realised price is net_sales ÷ units; it
-- is compared with the lowest approved promo price live that day on the item × location,
-- within max(var price_tolerance_abs, var price_tolerance_pct × that price). A day is not
-- verifiable when nothing sold, or when its weekly row also covers days outside the promotion
-- (the week's average price mixes promoted and regular days). Store or all-channel lines at
-- stores are checked against the tills; e-commerce or all-channel lines at the e-commerce
-- location against the web price in effect at the end of each promoted day (ecom/prices).
-- Store execution tasks (store_ops/tasks) of the promotion at the location count as on time
-- when completed by their due time. Launch accuracy needs every component known: price
-- compliant on the start day (the promotion went live on its date), in stock at launch, and
-- every task due by the start date done on time.
{%- set tolerance_abs = var('price_tolerance_abs') %}
{%- set tolerance_pct = var('price_tolerance_pct') %}

with lines as (

    select
        promotions.promotion_id,
        promotions.item_id,
        promotions.location_id,
        promotions.start_date,
        promotions.end_date,
        promotions.channel,
        promotions.promo_price,
        items.regular_price,
        items.unit_cost,
        promotions.channel in ('store', 'all') and coalesce(locations.location_type, 'store') = 'store'
            as is_checked_at_tills,
        promotions.channel in ('ecom', 'all') and locations.location_type = 'ecom' as is_checked_online
    from {{ ref('stg_erp__promotions') }} as promotions
    left join {{ ref('stg_erp__items') }} as items on promotions.item_id = items.item_id
    left join {{ ref('stg_erp__locations') }} as locations on promotions.location_id = locations.location_id
    where promotions.is_approved

),

latest_sales as (

    select max(business_date) as latest_sales_date from {{ ref('stg_pos__sales') }}

),

promoted_days as (

    select
        lines.*,
        cast(unnest(generate_series(
            lines.start_date, least(lines.end_date, latest_sales.latest_sales_date), interval 1 day
        )) as date) as promoted_date
    from lines
    cross join latest_sales
    where lines.start_date <= latest_sales.latest_sales_date

),

-- the price a shopper should pay: the lowest approved promo price live that day
expected_prices as (

    select
        *,
        min(promo_price) over (partition by item_id, location_id, promoted_date) as expected_price
    from promoted_days

),

sales as (

    select
        business_date,
        item_id,
        location_id,
        period_days,
        cast(business_date - (period_days - 1) as date) as period_start_date,
        units,
        net_sales,
        discount_amount
    from {{ ref('stg_pos__sales') }}
    where period_days in (1, 7)

),

day_sales as (

    select expected_prices.*, sales.period_start_date, sales.business_date as period_end_date,
        sales.units, sales.net_sales, sales.discount_amount
    from expected_prices
    inner join sales
        on expected_prices.item_id = sales.item_id
        and expected_prices.location_id = sales.location_id
        and sales.period_days = 1
        and sales.business_date = expected_prices.promoted_date
    union all by name
    select expected_prices.*, sales.period_start_date, sales.business_date as period_end_date,
        sales.units, sales.net_sales, sales.discount_amount
    from expected_prices
    inner join sales
        on expected_prices.item_id = sales.item_id
        and expected_prices.location_id = sales.location_id
        and sales.period_days = 7
        and sales.business_date = {{ week_end_date('expected_prices.promoted_date') }}

),

checked_days as (

    select
        expected_prices.promotion_id,
        expected_prices.item_id,
        expected_prices.location_id,
        expected_prices.promoted_date,
        expected_prices.start_date,
        expected_prices.end_date,
        expected_prices.is_checked_at_tills,
        expected_prices.is_checked_online,
        expected_prices.expected_price,
        expected_prices.regular_price,
        expected_prices.promo_price,
        expected_prices.unit_cost,
        day_sales.units,
        case when day_sales.units > 0 then cast(day_sales.net_sales as double) / day_sales.units end
            as realised_price,
        case when day_sales.units > 0 then cast(day_sales.discount_amount as double) / day_sales.units end
            as realised_discount_per_unit,
        greatest({{ tolerance_abs }}, {{ tolerance_pct }} * cast(expected_prices.expected_price as double))
            as tolerance,
        day_sales.units > 0
            and day_sales.period_start_date >= expected_prices.start_date
            and day_sales.period_end_date <= expected_prices.end_date as is_verifiable
    from expected_prices
    left join (
        select *
        from day_sales
        -- a daily row wins over a weekly summary if a source sent both for the same day
        qualify row_number() over (
            partition by promotion_id, item_id, location_id, promoted_date order by period_start_date desc
        ) = 1
    ) as day_sales
        on expected_prices.promotion_id = day_sales.promotion_id
        and expected_prices.item_id = day_sales.item_id
        and expected_prices.location_id = day_sales.location_id
        and expected_prices.promoted_date = day_sales.promoted_date

),

classified_days as (

    select
        *,
        case
            when not is_checked_at_tills then 'not_applicable'
            when not coalesce(is_verifiable, false) then 'not_verifiable'
            when realised_price > expected_price + tolerance then 'overcharged'
            when realised_price < expected_price - tolerance then 'undercharged'
            else 'compliant'
        end as price_check
    from checked_days

),

-- the web price in effect at the end of each promoted day of the lines checked online
web_prices as (

    select item_id, effective_ts, web_price from {{ ref('stg_ecom__prices') }}

),

online_days as (

    select
        classified_days.promotion_id,
        classified_days.item_id,
        classified_days.location_id,
        classified_days.promoted_date,
        classified_days.expected_price,
        classified_days.tolerance,
        (
            select arg_max(web_prices.web_price, web_prices.effective_ts)
            from web_prices
            where web_prices.item_id = classified_days.item_id
                and web_prices.effective_ts < classified_days.promoted_date + 1
        ) as web_price
    from classified_days
    where classified_days.is_checked_online

),

online_per_line as (

    select
        promotion_id,
        item_id,
        location_id,
        count(web_price) as checked_days,
        count(case when web_price <= expected_price + tolerance and web_price >= expected_price - tolerance then 1 end)
            as compliant_days,
        count(case when web_price > expected_price + tolerance then 1 end) as overpriced_days,
        count(case when web_price < expected_price - tolerance then 1 end) as underpriced_days
    from online_days
    group by promotion_id, item_id, location_id

),

latest_business_day as (

    -- tasks are judged as of the end of the latest POS business date, so a build is reproducible
    select cast(latest_sales_date + 1 as timestamp) as as_of_ts from latest_sales

),

tasks_per_line as (

    select
        lines.promotion_id,
        lines.item_id,
        lines.location_id,
        count(*) filter (where tasks.due_ts <= latest_business_day.as_of_ts) as tasks_due,
        count(*) filter (where tasks.completed_ts <= tasks.due_ts and tasks.due_ts <= latest_business_day.as_of_ts)
            as tasks_on_time,
        count(*) filter (where tasks.due_ts <= lines.start_date + 1) as launch_tasks,
        count(*) filter (where tasks.due_ts <= lines.start_date + 1 and tasks.completed_ts <= tasks.due_ts)
            as launch_tasks_on_time
    from lines
    cross join latest_business_day
    inner join {{ ref('stg_store_ops__tasks') }} as tasks
        on lines.promotion_id = tasks.promotion_id
        and lines.location_id = tasks.location_id
    group by lines.promotion_id, lines.item_id, lines.location_id

),

snapshots as (

    select snapshot_date, item_id, location_id, on_hand_units, stockout_hours
    from {{ ref('stg_inventory__snapshots') }}

),

-- each promoted day's stock state: the on-hand of the latest snapshot on or before it (weekly
-- snapshots carry forward over the week), or stock-out hours reported on that very day;
-- days before the first snapshot of the item × location find no snapshot and stay unknown
stock_days as (

    select
        classified_days.promotion_id,
        classified_days.item_id,
        classified_days.location_id,
        classified_days.promoted_date,
        {{ week_end_date('classified_days.promoted_date') }} as week_end_date,
        snapshots.on_hand_units <= 0
            or (snapshots.snapshot_date = classified_days.promoted_date and coalesce(snapshots.stockout_hours, 0) > 0)
            as is_stockout
    from classified_days
    asof join snapshots
        on classified_days.item_id = snapshots.item_id
        and classified_days.location_id = snapshots.location_id
        and classified_days.promoted_date >= snapshots.snapshot_date

),

-- demand the forecast expected (uplift included) but the shelf could not serve: in each history
-- week attributed to the line, the forecast's daily demand (predicted ÷ 7) on its promoted days
-- out of stock, capped by what the week really fell short of the forecast
stockout_weeks as (

    select promotion_id, item_id, location_id, week_end_date, count(*) as stockout_days
    from stock_days
    where is_stockout
    group by promotion_id, item_id, location_id, week_end_date

),

lost_sales as (

    select
        stockout_weeks.promotion_id,
        stockout_weeks.item_id,
        stockout_weeks.location_id,
        sum(least(
            greatest(0, coalesce(demand_forecast.predicted_units, 0) - coalesce(demand_forecast.actual_units, 0)),
            greatest(0, coalesce(demand_forecast.predicted_units, 0)) / 7 * stockout_weeks.stockout_days
        )) as lost_units
    from stockout_weeks
    inner join {{ ref('int_promotion_weeks') }} as promotion_weeks
        on stockout_weeks.promotion_id = promotion_weeks.promotion_id
        and stockout_weeks.item_id = promotion_weeks.item_id
        and stockout_weeks.location_id = promotion_weeks.location_id
        and stockout_weeks.week_end_date = promotion_weeks.week_end_date
        and promotion_weeks.is_attributed_week
    inner join {{ source('forecast', 'demand_weekly') }} as demand_forecast
        on stockout_weeks.item_id = demand_forecast.item_id
        and stockout_weeks.location_id = demand_forecast.location_id
        and stockout_weeks.week_end_date = demand_forecast.week_end_date
        and demand_forecast.is_history
    group by stockout_weeks.promotion_id, stockout_weeks.item_id, stockout_weeks.location_id

),

-- stock in place at launch: the last snapshot in the 7 days up to the start date
launch_stock as (

    select
        lines.promotion_id,
        lines.item_id,
        lines.location_id,
        arg_max(snapshots.on_hand_units, snapshots.snapshot_date) > 0 as is_launch_in_stock
    from lines
    inner join snapshots
        on lines.item_id = snapshots.item_id
        and lines.location_id = snapshots.location_id
        and snapshots.snapshot_date between lines.start_date - 7 and lines.start_date
    group by lines.promotion_id, lines.item_id, lines.location_id

),

per_line as (

    select
        promotion_id,
        item_id,
        location_id,
        min(start_date) as start_date,
        min(end_date) as end_date,
        bool_or(is_checked_at_tills) as is_checked_at_tills,
        bool_or(is_checked_online) as is_checked_online,
        count(*) as promoted_days,
        count(case when price_check = 'compliant' then 1 end) as compliant_days,
        count(case when price_check = 'overcharged' then 1 end) as overcharged_days,
        count(case when price_check = 'undercharged' then 1 end) as undercharged_days,
        count(case when price_check = 'not_verifiable' then 1 end) as not_verifiable_days,
        min(case when price_check in ('compliant', 'overcharged', 'undercharged') then realised_price end)
            as lowest_realised_price,
        bool_or(price_check in ('compliant', 'overcharged', 'undercharged') and realised_price < unit_cost)
            as has_price_below_cost,
        bool_or(
            price_check in ('compliant', 'overcharged', 'undercharged')
            and realised_discount_per_unit > (regular_price - promo_price) + tolerance
        ) as has_discount_deeper_than_approved,
        max(case when promoted_date = start_date then price_check end) as launch_price_check,
        max(promoted_date) filter (where price_check in ('compliant', 'overcharged', 'undercharged'))
            as last_verified_date,
        arg_max(price_check, promoted_date) filter (where price_check in ('compliant', 'overcharged', 'undercharged'))
            as last_verified_price_check
    from classified_days
    group by promotion_id, item_id, location_id

),

stock_per_line as (

    select
        promotion_id,
        item_id,
        location_id,
        count(*) as stock_known_days,
        count(case when is_stockout then 1 end) as stockout_days
    from stock_days
    group by promotion_id, item_id, location_id

)

select
    per_line.promotion_id,
    per_line.item_id,
    per_line.location_id,
    per_line.start_date,
    per_line.end_date,
    lines.channel,
    lines.promo_price,
    lines.regular_price,
    lines.unit_cost,
    per_line.is_checked_at_tills,
    per_line.is_checked_online,
    cast(per_line.promoted_days as integer) as promoted_days,
    cast(per_line.compliant_days as integer) as price_compliant_days,
    cast(per_line.overcharged_days as integer) as overcharged_days,
    cast(per_line.undercharged_days as integer) as undercharged_days,
    cast(per_line.not_verifiable_days as integer) as price_not_verifiable_days,
    cast(per_line.compliant_days + per_line.overcharged_days + per_line.undercharged_days + per_line.not_verifiable_days
        as integer) as price_checked_days,
    cast(per_line.compliant_days as integer) as price_compliance_numerator,
    cast(per_line.compliant_days + per_line.overcharged_days + per_line.undercharged_days as integer)
        as price_compliance_denominator,
    {{ safe_ratio('per_line.compliant_days', 'per_line.compliant_days + per_line.overcharged_days + per_line.undercharged_days') }}
        as price_compliance_rate,
    -- how much of the campaign the rate speaks for: verifiable ÷ checked days
    {{ safe_ratio(
        'per_line.compliant_days + per_line.overcharged_days + per_line.undercharged_days',
        'per_line.compliant_days + per_line.overcharged_days + per_line.undercharged_days + per_line.not_verifiable_days'
    ) }} as price_verifiable_share,
    per_line.lowest_realised_price,
    per_line.last_verified_date,
    per_line.last_verified_price_check,
    cast(coalesce(online_per_line.checked_days, 0) as integer) as ecom_price_checked_days,
    cast(coalesce(online_per_line.overpriced_days, 0) as integer) as ecom_overpriced_days,
    cast(coalesce(online_per_line.underpriced_days, 0) as integer) as ecom_underpriced_days,
    cast(coalesce(online_per_line.compliant_days, 0) as integer) as ecom_price_compliance_numerator,
    cast(coalesce(online_per_line.checked_days, 0) as integer) as ecom_price_compliance_denominator,
    {{ safe_ratio('online_per_line.compliant_days', 'online_per_line.checked_days') }} as ecom_price_compliance_rate,
    cast(coalesce(tasks_per_line.tasks_on_time, 0) as integer) as tasks_on_time_numerator,
    cast(coalesce(tasks_per_line.tasks_due, 0) as integer) as tasks_on_time_denominator,
    {{ safe_ratio('tasks_per_line.tasks_on_time', 'tasks_per_line.tasks_due') }} as tasks_on_time_rate,
    cast(coalesce(stock_per_line.stockout_days, 0) as integer) as stockout_rate_numerator,
    cast(coalesce(stock_per_line.stock_known_days, 0) as integer) as stockout_rate_denominator,
    {{ safe_ratio('stock_per_line.stockout_days', 'stock_per_line.stock_known_days') }} as stockout_rate,
    cast(per_line.promoted_days - coalesce(stock_per_line.stock_known_days, 0) as integer) as stock_unknown_days,
    cast(coalesce(lost_sales.lost_units, 0) as double) as stockout_lost_units,
    case when per_line.launch_price_check in ('compliant', 'overcharged', 'undercharged')
        then per_line.launch_price_check = 'compliant' end as is_launch_price_compliant,
    launch_stock.is_launch_in_stock,
    case when tasks_per_line.launch_tasks > 0
        then tasks_per_line.launch_tasks_on_time = tasks_per_line.launch_tasks end as are_launch_tasks_on_time,
    -- every component must be known: an unknown one makes the launch's accuracy unknown
    case
        when per_line.launch_price_check in ('compliant', 'overcharged', 'undercharged')
            and launch_stock.is_launch_in_stock is not null
            and tasks_per_line.launch_tasks > 0
            then per_line.launch_price_check = 'compliant'
                and launch_stock.is_launch_in_stock
                and tasks_per_line.launch_tasks_on_time = tasks_per_line.launch_tasks
    end as is_launch_accurate,
    per_line.undercharged_days > 0 as has_price_below_approved,
    coalesce(per_line.has_price_below_cost, false) as has_price_below_cost,
    coalesce(per_line.has_discount_deeper_than_approved, false) as has_discount_deeper_than_approved,
    per_line.undercharged_days > 0
        or coalesce(per_line.has_price_below_cost, false)
        or coalesce(per_line.has_discount_deeper_than_approved, false) as has_margin_erosion
from per_line
inner join lines
    on per_line.promotion_id = lines.promotion_id
    and per_line.item_id = lines.item_id
    and per_line.location_id = lines.location_id
left join stock_per_line
    on per_line.promotion_id = stock_per_line.promotion_id
    and per_line.item_id = stock_per_line.item_id
    and per_line.location_id = stock_per_line.location_id
left join lost_sales
    on per_line.promotion_id = lost_sales.promotion_id
    and per_line.item_id = lost_sales.item_id
    and per_line.location_id = lost_sales.location_id
left join launch_stock
    on per_line.promotion_id = launch_stock.promotion_id
    and per_line.item_id = launch_stock.item_id
    and per_line.location_id = launch_stock.location_id
left join online_per_line
    on per_line.promotion_id = online_per_line.promotion_id
    and per_line.item_id = online_per_line.item_id
    and per_line.location_id = online_per_line.location_id
left join tasks_per_line
    on per_line.promotion_id = tasks_per_line.promotion_id
    and per_line.item_id = tasks_per_line.item_id
    and per_line.location_id = tasks_per_line.location_id
