"""Forecasting assets: demand, baseline and uplift per series; the rolling-origin backtest;
replenishment targets whose safety stock rests on the backtested error."""


import os

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from forecasting import ForecastConfig, forecast_all, replenishment_targets, run_backtest
from forecasting.backtest import MODEL, accuracy_summary, accuracy_table, markdown_table
from orchestration.lib.code_version import source_version
from orchestration.lib.retries import retry_when_warehouse_locked
from orchestration.lib.warehouse_io import replace_table
from orchestration.resources import WAREHOUSE_POOL, RunFolders, WarehouseResource

DEMAND_INPUT = AssetKey(["intermediate", "int_demand_weekly"])
PROMOTION_WEEKS_INPUT = AssetKey(["intermediate", "int_promotion_weeks"])
ITEMS_INPUT = AssetKey(["staging", "stg_erp__items"])
BACKTEST_POINTS = AssetKey(["forecast", "backtest_points"])
# Demand planning owns the forecast and the replenishment targets sized on it.
OWNERS = ["team:planning"]
# The forecasting package decides every number these assets write.
CODE_VERSION = source_version("forecasting")


def _config(folders: RunFolders) -> ForecastConfig:
    workers = folders.forecast_workers or os.cpu_count() or 1
    return ForecastConfig(workers=workers)


def _read_inputs(warehouse: WarehouseResource):
    with retry_when_warehouse_locked(), warehouse.connect(read_only=True) as con:
        demand = con.execute("select * from intermediate.int_demand_weekly").df()
        promotion_weeks = con.execute("select * from intermediate.int_promotion_weeks").df()
        categories = con.execute("select item_id, category from staging.stg_erp__items").df()
    return demand, promotion_weeks, categories


@multi_asset(
    outs={
        "demand_weekly": AssetOut(
            key=AssetKey(["forecast", "demand_weekly"]), kinds={"prophet", "duckdb"},
            description="Weekly predicted and baseline units per item × location, history and horizon.",
            owners=OWNERS, code_version=CODE_VERSION,
        ),
        "promotion_uplift": AssetOut(
            key=AssetKey(["forecast", "promotion_uplift"]), kinds={"prophet", "duckdb"},
            description="Uplift per promotion × item × location: prediction with its inputs − baseline.",
            owners=OWNERS, code_version=CODE_VERSION,
        ),
        "series_fit_log": AssetOut(
            key=AssetKey(["forecast", "series_fit_log"]), kinds={"duckdb"},
            description="Per series: Prophet fitted or not (and why), where its promotion effect was learnt.",
            owners=OWNERS, code_version=CODE_VERSION,
        ),
    },
    deps=[DEMAND_INPUT, PROMOTION_WEEKS_INPUT, ITEMS_INPUT],
    group_name="forecast",
    pool=WAREHOUSE_POOL,
)
def demand_forecast(context: AssetExecutionContext, warehouse: WarehouseResource, folders: RunFolders):
    """Pooled level × promotion lift for every series, Prophet (in a process pool) for a share of promoted weeks."""
    config = _config(folders)
    demand, promotion_weeks, categories = _read_inputs(warehouse)
    result = forecast_all(demand, promotion_weeks, config, item_categories=categories)
    fit_log = result.series_fit_log
    with retry_when_warehouse_locked(), warehouse.connect() as con:
        replace_table(con, "forecast.demand_weekly", result.demand_weekly)
        replace_table(con, "forecast.promotion_uplift", result.promotion_uplift)
        replace_table(con, "forecast.series_fit_log", fit_log)
    fitted = int((fit_log["status"] == "fitted").sum())
    fallen_back = int((fit_log["status"] == "fallback").sum())
    borrowed = int((fit_log["promotion_effect_source"] != "item").sum())
    context.log.info(f"series with Prophet: {fitted}, pooled model only: {fallen_back}")
    yield Output(None, "demand_weekly", metadata={"dagster/row_count": len(result.demand_weekly),
                                                  "model_version": config.model_version})
    yield Output(None, "promotion_uplift", metadata={"dagster/row_count": len(result.promotion_uplift)})
    yield Output(None, "series_fit_log", metadata={"dagster/row_count": len(fit_log),
                                                   "series_fitted": fitted, "series_fallen_back": fallen_back,
                                                   "series_promotion_effect_not_own_item": borrowed})


@multi_asset(
    outs={
        "backtest_metrics": AssetOut(
            key=AssetKey(["forecast", "backtest_metrics"]), kinds={"duckdb"},
            description="WAPE, bias and MASE of the model and the simple benchmarks, promoted and non-promoted "
                        "weeks, overall, per horizon and per series (rolling origin, last 26 weeks, 1-4 ahead).",
            owners=OWNERS, code_version=CODE_VERSION,
        ),
        "backtest_points": AssetOut(
            key=BACKTEST_POINTS, kinds={"duckdb"},
            description="Every backtest forecast with its actual: the errors safety stock is sized on.",
            owners=OWNERS, code_version=CODE_VERSION,
        ),
    },
    deps=[DEMAND_INPUT, PROMOTION_WEEKS_INPUT, ITEMS_INPUT],
    group_name="forecast",
    pool=WAREHOUSE_POOL,
)
def forecast_backtest(context: AssetExecutionContext, warehouse: WarehouseResource, folders: RunFolders):
    """Rolling-origin backtest of the shipped model next to seasonal naive, last value and recent means."""
    config = _config(folders)
    demand, promotion_weeks, categories = _read_inputs(warehouse)
    result = run_backtest(demand, promotion_weeks, config, item_categories=categories)
    with retry_when_warehouse_locked(), warehouse.connect() as con:
        replace_table(con, "forecast.backtest_metrics", result.metrics)
        replace_table(con, "forecast.backtest_points", result.points)
    metadata: dict = {"dagster/row_count": len(result.metrics)}
    if result.origin_dates:
        summary = accuracy_summary(result.metrics, config)
        table = accuracy_table(result.metrics)
        context.log.info(f"backtest: {summary}")
        metadata.update(
            {
                "accuracy": MetadataValue.md(markdown_table(table)),
                **{key: (round(value, 4) if isinstance(value, float) else value) for key, value in summary.items()},
                "first_origin": str(result.origin_dates[0].date()),
                "last_origin": str(result.origin_dates[-1].date()),
                "prophet_fit_origins": ", ".join(str(d.date()) for d in result.prophet_fit_dates),
                "wall_seconds": round(result.timings["total_seconds"], 1),
                "model_version": config.model_version,
            }
        )
    yield Output(None, "backtest_metrics", metadata=metadata)
    yield Output(None, "backtest_points", metadata={"dagster/row_count": len(result.points)})


@asset(
    key=AssetKey(["forecast", "replenishment_targets"]),
    deps=[AssetKey(["forecast", "demand_weekly"]), BACKTEST_POINTS,
          ITEMS_INPUT, AssetKey(["staging", "stg_inventory__snapshots"])],
    group_name="forecast",
    kinds={"duckdb"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    pool=WAREHOUSE_POOL,
    description="Safety stock (σ from the backtested error), reorder point, order-up-to and suggested order "
                "per item × location (DESIGN §6).",
)
def replenishment(warehouse: WarehouseResource) -> MaterializeResult:
    with retry_when_warehouse_locked(), warehouse.connect(read_only=True) as con:
        weekly_forecast = con.execute("select * from forecast.demand_weekly").df()
        backtest_points = con.execute(
            "select * from forecast.backtest_points where method = ?", [MODEL]
        ).df()
        items = con.execute(
            "select item_id, lead_time_days, lead_time_std_days, pack_size, moq from staging.stg_erp__items"
        ).df()
        as_of_date = con.execute("select max(snapshot_date) from staging.stg_inventory__snapshots").fetchone()[0]
        inventory_position = con.execute(
            """select item_id, location_id,
                      on_hand_units + coalesce(in_transit_units, 0) + coalesce(on_order_units, 0)
                          as inventory_position_units
               from staging.stg_inventory__snapshots where snapshot_date = ?""",
            [as_of_date],
        ).df()
    targets = replenishment_targets(weekly_forecast, items, inventory_position, backtest_points, as_of_date)
    with retry_when_warehouse_locked(), warehouse.connect() as con:
        replace_table(con, "forecast.replenishment_targets", targets)
    bases = targets["sigma_basis"].value_counts().to_dict()
    return MaterializeResult(metadata={"dagster/row_count": len(targets), "as_of_date": str(as_of_date),
                                       **{f"sigma_basis/{k}": int(v) for k, v in bases.items()}})
