"""The whole pipeline in one screen: landing → raw → dbt → forecast → dbt → writeback."""

from __future__ import annotations

from dagster import Definitions, EnvVar
from dagster_dbt import DbtCliResource

from orchestration.dbt import dbt_after_forecast, dbt_before_forecast, dbt_project
from orchestration.forecasting import demand_forecast, replenishment
from orchestration.ingestion import column_provenance, landing_specs, raw_assets
from orchestration.lib.paths import ENV_LANDING, ENV_OUTBOUND, ENV_WAREHOUSE, dbt_executable
from orchestration.resources import RunFolders, WarehouseResource
from orchestration.schedules import daily_schedule, main_job
from orchestration.writeback import erp_outbound_files

defs = Definitions(
    assets=[
        *landing_specs,
        *raw_assets,
        column_provenance,
        dbt_before_forecast,
        demand_forecast,
        replenishment,
        dbt_after_forecast,
        erp_outbound_files,
    ],
    jobs=[main_job],
    schedules=[daily_schedule],
    resources={
        "warehouse": WarehouseResource(path=EnvVar(ENV_WAREHOUSE)),
        "folders": RunFolders(landing_dir=EnvVar(ENV_LANDING), outbound_dir=EnvVar(ENV_OUTBOUND)),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    },
)
