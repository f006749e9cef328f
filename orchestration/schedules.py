"""The main job and its daily schedule. One in-process executor: DuckDB allows one writer.

Writeback to the ERP is not part of the nightly build: its own jobs and schedules are in
orchestration/writeback.py (docs/decisions/0003-writeback-jobs.md).
"""

from __future__ import annotations

from dagster import AssetSelection, ScheduleDefinition, define_asset_job, in_process_executor

main_job = define_asset_job(
    name="retailops_main",
    selection=AssetSelection.all() - AssetSelection.groups("writeback"),
    executor_def=in_process_executor,
    description="Ingest landing extracts, build the marts and forecast (writeback runs as its own jobs).",
)

daily_schedule = ScheduleDefinition(
    name="retailops_main_daily",
    job=main_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
)
