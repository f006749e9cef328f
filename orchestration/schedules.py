"""The main job and its daily schedule. One in-process executor: DuckDB allows one writer."""

from __future__ import annotations

from dagster import AssetSelection, ScheduleDefinition, define_asset_job, in_process_executor

main_job = define_asset_job(
    name="retailops_main",
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="Ingest landing extracts, build the marts, forecast, and write ERP files.",
)

daily_schedule = ScheduleDefinition(
    name="retailops_main_daily",
    job=main_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
)
