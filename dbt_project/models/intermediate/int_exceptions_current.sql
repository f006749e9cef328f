{{ config(tags=['post_forecast']) }}
-- The exceptions the rules raise on this build: one row per open exception. The snapshot
-- snapshots/exceptions.yml keeps them across builds (raised = first build that saw it,
-- resolved = first build that no longer does), and marts.fct_exceptions reads the snapshot.
-- These rules read marts (stock exposure, promotion execution) and the forecast: they are
-- rules over the published figures, so they cannot disagree with what BI shows.
-- Rules:
--   stockout_risk_on_promoted_item: at risk on the latest snapshot date while an approved
--     promotion on the item × location is live or starts within the item's lead time;
--   price_non_compliance: a promotion live on the latest POS date whose last verifiable day
--     was over- or undercharged;
--   demand_outside_forecast: the latest history week sold further outside the forecast
--     interval than var forecast_exception_margin × the interval's width;
--   late_store_task: a store execution task of an approved promotion past its due time and
--     not completed, as of the end of the latest POS business date (resolved once completed).
{%- set margin = var('forecast_exception_margin') %}

with promotions as (

    select promotion_id, item_id, location_id, start_date, end_date
    from {{ ref('stg_erp__promotions') }}
    where is_approved

),

at_risk as (

    select item_id, location_id, snapshot_date, days_of_cover, protection_period_days, lead_time_days
    from {{ ref('fct_stock_exposure') }}
    where is_latest_snapshot_date and stockout_risk

),

stockout_risk_exceptions as (

    select
        'stockout_risk_on_promoted_item' as exception_type,
        at_risk.item_id,
        at_risk.location_id,
        promotions.promotion_id,
        cast(null as varchar) as task_id,
        at_risk.snapshot_date as observed_date,
        'days of cover ' || coalesce(cast(round(at_risk.days_of_cover, 1) as varchar), 'unknown')
            || ' < protection period ' || at_risk.protection_period_days || ' days; promotion '
            || promotions.promotion_id || ' runs ' || promotions.start_date || ' … ' || promotions.end_date
            as detail
    from at_risk
    inner join promotions
        on at_risk.item_id = promotions.item_id
        and at_risk.location_id = promotions.location_id
        and promotions.end_date >= at_risk.snapshot_date
        and promotions.start_date <= at_risk.snapshot_date + coalesce(at_risk.lead_time_days, 0)

),

latest_sales as (

    select max(business_date) as latest_sales_date from {{ ref('stg_pos__sales') }}

),

price_exceptions as (

    select
        'price_non_compliance' as exception_type,
        execution.item_id,
        execution.location_id,
        execution.promotion_id,
        cast(null as varchar) as task_id,
        execution.last_verified_date as observed_date,
        execution.last_verified_price_check || ' on ' || execution.last_verified_date
            || ' (lowest realised price ' || round(execution.lowest_realised_price, 2)
            || ', approved ' || round(execution.promo_price, 2) || ')' as detail
    from {{ ref('fct_promotion_execution') }} as execution
    cross join latest_sales
    where latest_sales.latest_sales_date between execution.start_date and execution.end_date
        and execution.last_verified_price_check in ('overcharged', 'undercharged')

),

latest_history as (

    select max(week_end_date) as week_end_date
    from {{ source('forecast', 'demand_weekly') }}
    where is_history

),

demand_exceptions as (

    select
        'demand_outside_forecast' as exception_type,
        demand_forecast.item_id,
        demand_forecast.location_id,
        cast(null as varchar) as promotion_id,
        cast(null as varchar) as task_id,
        demand_forecast.week_end_date as observed_date,
        'sold ' || demand_forecast.actual_units || ' against an interval of '
            || round(demand_forecast.predicted_lower, 1) || ' … ' || round(demand_forecast.predicted_upper, 1)
            as detail
    from {{ source('forecast', 'demand_weekly') }} as demand_forecast
    inner join latest_history on demand_forecast.week_end_date = latest_history.week_end_date
    where demand_forecast.is_history
        and (
            demand_forecast.actual_units > demand_forecast.predicted_upper
                + {{ margin }} * (demand_forecast.predicted_upper - demand_forecast.predicted_lower)
            or demand_forecast.actual_units < demand_forecast.predicted_lower
                - {{ margin }} * (demand_forecast.predicted_upper - demand_forecast.predicted_lower)
        )

),

late_task_exceptions as (

    select
        'late_store_task' as exception_type,
        cast(null as varchar) as item_id,
        tasks.location_id,
        tasks.promotion_id,
        tasks.task_id,
        cast(tasks.due_ts as date) as observed_date,
        tasks.task_type || ' due ' || tasks.due_ts || ', not completed' as detail
    from {{ ref('stg_store_ops__tasks') }} as tasks
    cross join latest_sales
    where tasks.completed_ts is null
        and tasks.due_ts < cast(latest_sales.latest_sales_date + 1 as timestamp)
        and tasks.promotion_id in (select promotion_id from promotions)

),

all_exceptions as (

    select * from stockout_risk_exceptions
    union all by name
    select * from price_exceptions
    union all by name
    select * from demand_exceptions
    union all by name
    select * from late_task_exceptions

)

select
    -- the identity of an exception: it stays open across builds while the rule keeps raising it
    md5(
        exception_type || '|' || coalesce(item_id, '') || '|' || location_id || '|'
        || coalesce(promotion_id, '') || '|' || coalesce(task_id, '')
    ) as exception_id,
    exception_type,
    item_id,
    location_id,
    promotion_id,
    task_id,
    observed_date,
    detail
from all_exceptions
