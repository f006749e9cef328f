{%- set trailing_days = var('trailing_weeks') | int * 7 %}
{%- set cover_days = var('cover_forecast_weeks') | int * 7 %}
{{ config(
    tags=['post_forecast'],
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_window('snapshot_date', window_min_date(), none, 'is_latest_snapshot_date') }}"
) }}
-- Stock exposure per item × location × snapshot date: the position in units, at cost and at
-- retail, forward days of cover, stock-out risk, (latest snapshot date only) excess stock, and
-- the age of the on-hand stock by FIFO over the goods receipts.
-- Daily demand for cover: on the latest snapshot date, the forecast (with promotion uplift)
-- of the next cover_forecast_weeks horizon weeks; on earlier dates, when no forecast was
-- stored for them, the trailing trailing_weeks weeks of actual sales.
-- FIFO ageing: stock is sold oldest first, so what is on hand on a date is the most recent
-- receipts up to the on-hand quantity. With R(n) = units received in the n days up to the
-- snapshot date (age 0 … n − 1), the units aged at most n − 1 days are least(on-hand, R(n));
-- the buckets are the differences between those, and on-hand beyond all receipts so far is of
-- unknown age. Without any receipt on or before the date the buckets are NULL.
-- Incremental: a run deletes every date from var min_date on (receipts dated in the window
-- change the age of all later stock; sales in it change the trailing demand of the
-- trailing_weeks × 7 − 1 days after it) and the rows of the previous latest date (their basis
-- changes when the forecast is refitted or a newer date arrives), then rebuilds every date
-- missing from the table. A daily run on the newest day therefore rebuilds only that day.

with all_snapshots as (

    select * from {{ ref('stg_inventory__snapshots') }}

),

latest_snapshot as (

    select max(snapshot_date) as latest_snapshot_date from all_snapshots

),

{%- if is_incremental() %}

rebuild_dates as (

    select snapshot_date from all_snapshots
    except
    select snapshot_date from {{ this }}

),
{%- endif %}

snapshots as (

    select * from all_snapshots
    {%- if is_incremental() %}
    where snapshot_date in (select snapshot_date from rebuild_dates)
    {%- endif %}

),

items as (

    select item_id, unit_cost, regular_price, lead_time_days from {{ ref('stg_erp__items') }}

),

weekly_demand as (

    select item_id, location_id, week_end_date, units from {{ ref('int_demand_weekly') }}

),

-- complete weeks ending on or before the snapshot date; weeks without sales count as zero
trailing_demand as (

    select
        snapshots.item_id,
        snapshots.location_id,
        snapshots.snapshot_date,
        sum(weekly_demand.units) as trailing_units
    from snapshots
    inner join weekly_demand
        on snapshots.item_id = weekly_demand.item_id
        and snapshots.location_id = weekly_demand.location_id
        and weekly_demand.week_end_date <= snapshots.snapshot_date
        and weekly_demand.week_end_date > snapshots.snapshot_date - {{ trailing_days }}
    group by snapshots.item_id, snapshots.location_id, snapshots.snapshot_date

),

forecast_horizon as (

    select
        demand_forecast.item_id,
        demand_forecast.location_id,
        sum(demand_forecast.predicted_units) as forecast_units,
        7 * count(*) as forecast_days
    from {{ source('forecast', 'demand_weekly') }} as demand_forecast
    cross join latest_snapshot
    where not demand_forecast.is_history
        and demand_forecast.week_end_date > latest_snapshot.latest_snapshot_date
        and demand_forecast.week_end_date <= latest_snapshot.latest_snapshot_date + {{ cover_days }}
    group by demand_forecast.item_id, demand_forecast.location_id

),

-- receipts per item × location × day, and the units received up to and including each day
receipt_days as (

    select item_id, location_id, receipt_date, sum(units) as units
    from {{ ref('stg_inventory__receipts') }}
    where units > 0
    group by item_id, location_id, receipt_date

),

cumulative_receipts as (

    select
        item_id,
        location_id,
        receipt_date,
        sum(units) over (partition by item_id, location_id order by receipt_date) as cumulative_units
    from receipt_days

),

-- units received on or before the snapshot date, and on or before 31, 61 and 91 days before it
-- (so received_units − received_by_31_days_before = the units aged 0 … 30 days)
receipts_to_date as (

    select
        snapshots.item_id,
        snapshots.location_id,
        snapshots.snapshot_date,
        received.cumulative_units as received_units,
        coalesce(received_31.cumulative_units, 0) as received_by_31_days_before,
        coalesce(received_61.cumulative_units, 0) as received_by_61_days_before,
        coalesce(received_91.cumulative_units, 0) as received_by_91_days_before,
        greatest(snapshots.on_hand_units, 0) as ageable_units
    from snapshots
    asof left join cumulative_receipts as received
        on snapshots.item_id = received.item_id
        and snapshots.location_id = received.location_id
        and snapshots.snapshot_date >= received.receipt_date
    asof left join cumulative_receipts as received_31
        on snapshots.item_id = received_31.item_id
        and snapshots.location_id = received_31.location_id
        and snapshots.snapshot_date - 31 >= received_31.receipt_date
    asof left join cumulative_receipts as received_61
        on snapshots.item_id = received_61.item_id
        and snapshots.location_id = received_61.location_id
        and snapshots.snapshot_date - 61 >= received_61.receipt_date
    asof left join cumulative_receipts as received_91
        on snapshots.item_id = received_91.item_id
        and snapshots.location_id = received_91.location_id
        and snapshots.snapshot_date - 91 >= received_91.receipt_date

),

-- FIFO: the stock on hand is the newest receipts, so at most least(on-hand, units received in
-- the last n days) of it is younger than n days; negative on-hand holds no stock to age
stock_age as (

    select
        item_id,
        location_id,
        snapshot_date,
        ageable_units,
        least(ageable_units, received_units - received_by_31_days_before) as within_30_days_units,
        least(ageable_units, received_units - received_by_61_days_before) as within_60_days_units,
        least(ageable_units, received_units - received_by_91_days_before) as within_90_days_units,
        least(ageable_units, received_units) as explained_units
    from receipts_to_date
    where received_units is not null

),

replenishment_targets as (

    select item_id, location_id, forecast_protection_units, safety_stock_units
    from {{ source('forecast', 'replenishment_targets') }}

),

positions as (

    select
        snapshots.item_id,
        snapshots.location_id,
        snapshots.snapshot_date,
        snapshots.snapshot_date = latest_snapshot.latest_snapshot_date as is_latest_snapshot_date,
        snapshots.on_hand_units,
        coalesce(snapshots.in_transit_units, 0) as in_transit_units,
        coalesce(snapshots.on_order_units, 0) as on_order_units,
        items.unit_cost,
        items.regular_price,
        items.lead_time_days,
        coalesce(trailing_demand.trailing_units, 0) as trailing_units,
        forecast_horizon.forecast_units,
        forecast_horizon.forecast_days,
        -- targets are the current plan: they describe the latest position only
        case when snapshots.snapshot_date = latest_snapshot.latest_snapshot_date
            then replenishment_targets.forecast_protection_units end as forecast_protection_units,
        case when snapshots.snapshot_date = latest_snapshot.latest_snapshot_date
            then replenishment_targets.safety_stock_units end as safety_stock_units,
        stock_age.within_30_days_units as age_0_30_units,
        stock_age.within_60_days_units - stock_age.within_30_days_units as age_31_60_units,
        stock_age.within_90_days_units - stock_age.within_60_days_units as age_61_90_units,
        stock_age.explained_units - stock_age.within_90_days_units as age_over_90_units,
        stock_age.ageable_units - stock_age.explained_units as age_unknown_units
    from snapshots
    cross join latest_snapshot
    left join items on snapshots.item_id = items.item_id
    left join trailing_demand
        on snapshots.item_id = trailing_demand.item_id
        and snapshots.location_id = trailing_demand.location_id
        and snapshots.snapshot_date = trailing_demand.snapshot_date
    left join forecast_horizon
        on snapshots.item_id = forecast_horizon.item_id
        and snapshots.location_id = forecast_horizon.location_id
    left join replenishment_targets
        on snapshots.item_id = replenishment_targets.item_id
        and snapshots.location_id = replenishment_targets.location_id
    left join stock_age
        on snapshots.item_id = stock_age.item_id
        and snapshots.location_id = stock_age.location_id
        and snapshots.snapshot_date = stock_age.snapshot_date

),

cover as (

    select
        *,
        on_hand_units + in_transit_units + on_order_units as inventory_position_units,
        case when is_latest_snapshot_date then 'forecast' else 'trailing_actuals' end as cover_demand_basis,
        case
            when is_latest_snapshot_date then forecast_units / nullif(forecast_days, 0)
            else trailing_units / {{ trailing_days }}
        end as daily_demand_units,
        lead_time_days + {{ var('review_period_days') }} as protection_period_days,
        -- DuckDB's greatest() skips NULLs: without a target the excess is unknown, not 0
        case
            when is_latest_snapshot_date
                and forecast_protection_units is not null
                and safety_stock_units is not null
                then greatest(0, on_hand_units - forecast_protection_units - safety_stock_units)
        end as excess_units
    from positions

)

select
    item_id,
    location_id,
    snapshot_date,
    is_latest_snapshot_date,
    cast(on_hand_units as double) as on_hand_units,
    cast(in_transit_units as double) as in_transit_units,
    cast(on_order_units as double) as on_order_units,
    cast(inventory_position_units as double) as inventory_position_units,
    cast(on_hand_units * unit_cost as decimal(18, 4)) as on_hand_at_cost,
    cast(in_transit_units * unit_cost as decimal(18, 4)) as in_transit_at_cost,
    cast(on_order_units * unit_cost as decimal(18, 4)) as on_order_at_cost,
    cast(inventory_position_units * unit_cost as decimal(18, 4)) as inventory_position_at_cost,
    cast(on_hand_units * regular_price as decimal(18, 4)) as on_hand_at_retail,
    cast(in_transit_units * regular_price as decimal(18, 4)) as in_transit_at_retail,
    cast(on_order_units * regular_price as decimal(18, 4)) as on_order_at_retail,
    cast(inventory_position_units * regular_price as decimal(18, 4)) as inventory_position_at_retail,
    on_hand_units < 0 as has_negative_on_hand,
    cover_demand_basis,
    cast(daily_demand_units as double) as daily_demand_units,
    -- negative on-hand (a bookkeeping lag) covers no demand: it counts as 0 days of cover
    cast(case when daily_demand_units is not null then greatest(on_hand_units, 0) end as double)
        as days_of_cover_numerator,
    cast(daily_demand_units as double) as days_of_cover_denominator,
    {{ safe_ratio('greatest(on_hand_units, 0)', 'daily_demand_units') }} as days_of_cover,
    cast(lead_time_days as integer) as lead_time_days,
    cast({{ var('review_period_days') }} as integer) as review_period_days,
    cast(protection_period_days as integer) as protection_period_days,
    case
        when daily_demand_units is null then null
        -- no expected demand: the stock cannot run out
        when daily_demand_units <= 0 then false
        else greatest(on_hand_units, 0) / daily_demand_units < protection_period_days
    end as stockout_risk,
    cast(forecast_protection_units as double) as forecast_protection_units,
    cast(safety_stock_units as double) as safety_stock_units,
    cast(excess_units as double) as excess_units,
    cast(excess_units * unit_cost as decimal(18, 4)) as excess_at_cost,
    cast(age_0_30_units as double) as age_0_30_units,
    cast(age_31_60_units as double) as age_31_60_units,
    cast(age_61_90_units as double) as age_61_90_units,
    cast(age_over_90_units as double) as age_over_90_units,
    cast(age_unknown_units as double) as age_unknown_units,
    cast(age_0_30_units * unit_cost as decimal(18, 4)) as age_0_30_at_cost,
    cast(age_31_60_units * unit_cost as decimal(18, 4)) as age_31_60_at_cost,
    cast(age_61_90_units * unit_cost as decimal(18, 4)) as age_61_90_at_cost,
    cast(age_over_90_units * unit_cost as decimal(18, 4)) as age_over_90_at_cost,
    cast(age_unknown_units * unit_cost as decimal(18, 4)) as age_unknown_at_cost
from cover
