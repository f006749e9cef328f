"""The whole pipeline in one screen: landing → raw → dbt → forecast → dbt → BI snapshot; writeback."""

from __future__ import annotations

from dagster import Definitions, EnvVar
from dagster_dbt import DbtCliResource

from orchestration.alerts import alert_resource, alert_sensors
from orchestration.bi import BiSnapshotResource, bi_marts_snapshot
from orchestration.dbt import daily_window_job, dbt_after_forecast, dbt_before_forecast, dbt_project
from orchestration.forecasting import demand_forecast, forecast_backtest, replenishment
from orchestration.ingestion import (
    column_provenance,
    ingestion_checks,
    landing_sensor,
    landing_specs,
    misplaced_landing_files,
    raw_assets,
)
from orchestration.lib.paths import ENV_LANDING, ENV_OUTBOUND, ENV_WAREHOUSE, dbt_executable
from orchestration.report import promotion_and_stock_report
from orchestration.resources import RunFolders, WarehouseResource
from orchestration.schedules import daily_schedule, forecast_job, forecast_weekly_schedule, main_job
from orchestration.writeback import (
    erp_outbound_files,
    writeback_jobs,
    writeback_resources,
    writeback_schedules,
    writeback_sensors,
)

defs = Definitions(
    assets=[
        *landing_specs,
        *raw_assets,
        misplaced_landing_files,
        column_provenance,
        dbt_before_forecast,
        demand_forecast,
        forecast_backtest,
        replenishment,
        dbt_after_forecast,
        bi_marts_snapshot,
        promotion_and_stock_report,
        erp_outbound_files,
    ],
    jobs=[main_job, forecast_job, daily_window_job, *writeback_jobs],
    schedules=[daily_schedule(), forecast_weekly_schedule, *writeback_schedules],
    asset_checks=ingestion_checks,
    sensors=[landing_sensor, *writeback_sensors, *alert_sensors],
    resources={
        "warehouse": WarehouseResource(path=EnvVar(ENV_WAREHOUSE)),
        "folders": RunFolders(landing_dir=EnvVar(ENV_LANDING), outbound_dir=EnvVar(ENV_OUTBOUND)),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        "bi": BiSnapshotResource(),
        "alerts": alert_resource(),
        **writeback_resources(),
    },
)
