"""The main job, its nightly schedule, and the weekly forecast refit. One in-process executor per run:
DuckDB allows one writer (and the instance's `duckdb_writer` pool keeps runs from meeting).

Writeback to the ERP is not part of the nightly build: its own jobs and schedules are in
orchestration/writeback.py (docs/decisions/0003-writeback-jobs.md). Which schedules are on from
the start, and why: docs/decisions/0006-dagster-deployment.md.
"""

from __future__ import annotations

import os

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from orchestration.bi import bi_marts_snapshot
from orchestration.dbt import dbt_after_forecast

# The nightly build's cron (UTC). Read when Dagster loads the definitions — a schedule's cron is
# fixed then — so a deployment can move the build without a code change.
ENV_MAIN_CRON = "RETAILOPS_MAIN_CRON"
DEFAULT_MAIN_CRON = "0 2 * * *"
# Monday 04:00 UTC: after the nightly build that loaded the week's last extracts.
FORECAST_WEEKLY_CRON = "0 4 * * 1"


def main_cron() -> str:
    """$RETAILOPS_MAIN_CRON, or 02:00 UTC every day."""
    return os.environ.get(ENV_MAIN_CRON) or DEFAULT_MAIN_CRON


main_job = define_asset_job(
    name="retailops_main",
    selection=AssetSelection.all() - AssetSelection.groups("writeback"),
    executor_def=in_process_executor,
    description="Ingest landing extracts, build the marts and forecast (writeback runs as its own jobs).",
)

# Refit and backtest the forecast, then rebuild what reads it: the post-forecast marts and the
# BI snapshot. No ingestion and no dbt before the forecast: it runs on the warehouse as it is.
forecast_job = define_asset_job(
    name="retailops_forecast_weekly",
    selection=(
        AssetSelection.groups("forecast")
        | AssetSelection.assets(dbt_after_forecast)
        | AssetSelection.assets(bi_marts_snapshot)
    ),
    executor_def=in_process_executor,
    description="Refit the demand forecast and its rolling-origin backtest on the warehouse as it is, then "
                "the marts that read the forecast and the BI snapshot.",
)


def daily_schedule() -> ScheduleDefinition:
    return ScheduleDefinition(
        name="retailops_main_daily",
        job=main_job,
        cron_schedule=main_cron(),
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description="The nightly build: everything new in the landing folder through to the BI snapshot.",
    )


forecast_weekly_schedule = ScheduleDefinition(
    name="retailops_forecast_weekly",
    job=forecast_job,
    cron_schedule=FORECAST_WEEKLY_CRON,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Weekly refit and backtest of the forecast with the marts and BI snapshot that read it.",
)
