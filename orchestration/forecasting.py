"""Forecasting assets: demand, baseline and uplift per series, then replenishment targets."""


import os

from dagster import AssetExecutionContext, AssetKey, AssetOut, MaterializeResult, Output, asset, multi_asset

from forecasting import ForecastConfig, forecast_all, replenishment_targets
from orchestration.lib.warehouse_io import replace_table
from orchestration.resources import RunFolders, WarehouseResource

DEMAND_INPUT = AssetKey(["intermediate", "int_demand_weekly"])
PROMOTION_WEEKS_INPUT = AssetKey(["intermediate", "int_promotion_weeks"])


def _config(folders: RunFolders) -> ForecastConfig:
    workers = folders.forecast_workers or os.cpu_count() or 1
    return ForecastConfig(workers=workers)


@multi_asset(
    outs={
        "demand_weekly": AssetOut(
            key=AssetKey(["forecast", "demand_weekly"]), kinds={"prophet", "duckdb"},
            description="Weekly predicted and baseline units per item × location, history and horizon.",
        ),
        "promotion_uplift": AssetOut(
            key=AssetKey(["forecast", "promotion_uplift"]), kinds={"prophet", "duckdb"},
            description="Uplift per promotion × item × location: prediction with its inputs − baseline.",
        ),
        "series_fit_log": AssetOut(
            key=AssetKey(["forecast", "series_fit_log"]), kinds={"duckdb"},
            description="Per series: fitted with Prophet or fallen back, and why; residual spread for safety stock.",
        ),
    },
    deps=[DEMAND_INPUT, PROMOTION_WEEKS_INPUT],
    group_name="forecast",
)
def demand_forecast(context: AssetExecutionContext, warehouse: WarehouseResource, folders: RunFolders):
    """Fit every item × location series in a process pool; one bad series falls back, never stops the run."""
    config = _config(folders)
    with warehouse.connect(read_only=True) as con:
        demand = con.execute("select * from intermediate.int_demand_weekly").df()
        promotion_weeks = con.execute("select * from intermediate.int_promotion_weeks").df()
    result = forecast_all(demand, promotion_weeks, config)
    # The residual spread per series feeds safety stock; it is kept beside the fit status.
    fit_log = result.series_fit_log.merge(result.residual_sigma, on=["item_id", "location_id"], how="left")
    with warehouse.connect() as con:
        replace_table(con, "forecast.demand_weekly", result.demand_weekly)
        replace_table(con, "forecast.promotion_uplift", result.promotion_uplift)
        replace_table(con, "forecast.series_fit_log", fit_log)
    fitted = int((fit_log["status"] == "fitted").sum())
    fallen_back = int((fit_log["status"] == "fallback").sum())
    context.log.info(f"series fitted: {fitted}, fallen back: {fallen_back}")
    yield Output(None, "demand_weekly", metadata={"dagster/row_count": len(result.demand_weekly),
                                                  "model_version": config.model_version})
    yield Output(None, "promotion_uplift", metadata={"dagster/row_count": len(result.promotion_uplift)})
    yield Output(None, "series_fit_log", metadata={"dagster/row_count": len(fit_log),
                                                   "series_fitted": fitted, "series_fallen_back": fallen_back})


@asset(
    key=AssetKey(["forecast", "replenishment_targets"]),
    deps=[AssetKey(["forecast", "demand_weekly"]), AssetKey(["forecast", "series_fit_log"]),
          AssetKey(["staging", "stg_erp__items"]), AssetKey(["staging", "stg_inventory__snapshots"])],
    group_name="forecast",
    kinds={"duckdb"},
    description="Safety stock, reorder point, order-up-to and suggested order per item × location (DESIGN §6).",
)
def replenishment(warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        weekly_forecast = con.execute("select * from forecast.demand_weekly").df()
        residual_sigma = con.execute(
            "select item_id, location_id, residual_sigma_units from forecast.series_fit_log"
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
    targets = replenishment_targets(weekly_forecast, items, inventory_position, residual_sigma, as_of_date)
    with warehouse.connect() as con:
        replace_table(con, "forecast.replenishment_targets", targets)
    return MaterializeResult(metadata={"dagster/row_count": len(targets), "as_of_date": str(as_of_date)})
