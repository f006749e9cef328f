"""Writeback to the ERP as its own jobs: daily replenishment targets, uplift when promotions are approved.

The logic lives in `writeback/` (plain Python); this module wires it into Dagster: the writeback
asset, three jobs (both families for `retailops run`, and one per family with its own schedule)
and a sensor on newly approved promotions; failed runs are alerted by orchestration/alerts.py,
for every job. Every setting reaches the
resources through `EnvVar`, so no value — least of all the ERP DSN — is stored in run config.
"""


import json
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Config,
    ConfigurableResource,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EnvVar,
    MaterializeResult,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    sensor,
)

from orchestration.lib.code_version import source_version
from orchestration.lib.paths import PROJECT_ROOT
from orchestration.lib.retries import retry_when_warehouse_locked
from orchestration.resources import WAREHOUSE_POOL, RunFolders, WarehouseResource
from writeback.changes import FAMILIES, approved_promotions_fingerprint
from writeback.engine import run_writeback
from writeback.settings import (
    ENV_ERP_DSN,
    ENV_ERP_SCHEMA,
    ENV_MAX_CHANGE_AT_COST,
    ENV_MAX_CHANGE_PCT,
    ENV_TARGET,
    WritebackError,
    WritebackSettings,
    export_defaults,
    redact,
)

ALL_FAMILIES = sorted(FAMILIES)
ALERT_LOG_DEFAULT = PROJECT_ROOT / "logs" / "run_failures.log"
WRITEBACK_OP = "writeback__erp_outbound_files"


class ErpTargetResource(ConfigurableResource):
    """Where writeback writes and when it holds a change for review (each field from an env variable)."""

    target: str
    dsn: str
    erp_schema: str
    max_change_pct: str
    max_change_at_cost: str

    def settings(self, warehouse: str, outbound_dir: str) -> WritebackSettings:
        return WritebackSettings.from_values(
            warehouse=warehouse, outbound_dir=outbound_dir, target=self.target, dsn=self.dsn,
            erp_schema=self.erp_schema, max_change_pct=self.max_change_pct, max_change_at_cost=self.max_change_at_cost,
        )


def erp_target_resource() -> ErpTargetResource:
    return ErpTargetResource(
        target=EnvVar(ENV_TARGET), dsn=EnvVar(ENV_ERP_DSN), erp_schema=EnvVar(ENV_ERP_SCHEMA),
        max_change_pct=EnvVar(ENV_MAX_CHANGE_PCT), max_change_at_cost=EnvVar(ENV_MAX_CHANGE_AT_COST),
    )


def export_writeback_defaults() -> None:
    """Give every unset writeback/alert variable its documented default (the files target, no webhook)."""
    export_defaults(ALERT_LOG_DEFAULT)


class WritebackConfig(Config):
    families: list[str] = ALL_FAMILIES


@asset(
    key=AssetKey(["writeback", "erp_outbound_files"]),
    # What it reads: the targets, the item costs the thresholds value changes at (the conformed
    # item dimension finance sees), and the promotion lines still approved in the ERP extract.
    deps=[
        AssetKey(["forecast", "promotion_uplift"]),
        AssetKey(["forecast", "replenishment_targets"]),
        AssetKey(["marts", "dim_item"]),
        AssetKey(["staging", "stg_erp__promotions"]),
    ],
    group_name="writeback",
    kinds={"csv", "postgres"},
    # Demand planning decides what the ERP receives (thresholds, reviews, rollbacks).
    owners=["team:planning"],
    code_version=source_version("writeback"),
    pool=WAREHOUSE_POOL,
    description=(
        "Uplift and replenishment targets sent to the ERP — CSV files with a manifest in outbound/, or ERP "
        "staging tables in PostgreSQL — exactly once, changes beyond the thresholds held for review."
    ),
)
def erp_outbound_files(
    context: AssetExecutionContext, config: WritebackConfig, warehouse: WarehouseResource, folders: RunFolders,
    erp: ErpTargetResource,
) -> MaterializeResult:
    settings = erp.settings(warehouse.path, folders.outbound_dir)
    # Exactly once (writeback.batches): a retry after the lock was busy sends nothing twice.
    with retry_when_warehouse_locked():
        result = run_writeback(
            settings, config.families, run_id=context.run.run_id, by=f"dagster:{context.job_name}",
            log=lambda message: context.log.info(redact(message, settings.dsn)),
        )
    metadata = {
        "destination": result.destination,
        "families": ", ".join(result.families),
        "batch_id": result.batch.batch_id if result.batch else "",
        "values_written": result.written if result.batch else 0,
        "held_for_review": result.held,
        "unchanged": result.unchanged,
        "completed_interrupted_batches": ", ".join(result.completed_earlier),
        "already_written": bool(result.delivery and result.delivery.already_written),
    }
    if result.delivery and result.delivery.paths:
        metadata["manifest"] = result.delivery.paths[0]
    return MaterializeResult(metadata=metadata)


def _writeback_job(name: str, families: list[str], description: str):
    return define_asset_job(
        name=name,
        selection=AssetSelection.assets(erp_outbound_files),
        executor_def=in_process_executor,
        config={"ops": {WRITEBACK_OP: {"config": {"families": families}}}},
        description=description,
    )


writeback_job = _writeback_job(
    "retailops_writeback", ALL_FAMILIES, "Send replenishment targets and promotion uplift to the ERP in one batch."
)
replenishment_writeback_job = _writeback_job(
    "retailops_writeback_replenishment", ["replenishment_targets"], "Send replenishment targets to the ERP."
)
uplift_writeback_job = _writeback_job(
    "retailops_writeback_uplift", ["promotion_uplift"], "Send promotion uplift to the ERP."
)

# After the nightly build (02:00 UTC). Stopped until an integration owner turns them on in the UI.
replenishment_writeback_schedule = ScheduleDefinition(
    name="retailops_writeback_replenishment_daily", job=replenishment_writeback_job, cron_schedule="0 5 * * *",
    execution_timezone="UTC", default_status=DefaultScheduleStatus.STOPPED,
)
uplift_writeback_schedule = ScheduleDefinition(
    name="retailops_writeback_uplift_daily", job=uplift_writeback_job, cron_schedule="30 5 * * *",
    execution_timezone="UTC", default_status=DefaultScheduleStatus.STOPPED,
)


def approved_promotions_request(warehouse_path: str, cursor: str | None) -> SensorResult | SkipReason:
    """A run of the uplift writeback when the set of approved promotions with an uplift forecast changed."""
    seen = approved_promotions_fingerprint(warehouse_path)
    if seen is None:
        return SkipReason("warehouse not readable now (being written, or not built yet); will look again")
    fingerprint, count = seen
    if fingerprint == cursor:
        return SkipReason(f"no new approved promotions ({count} known)")
    return SensorResult(run_requests=[RunRequest(run_key=f"approved-promotions-{fingerprint}")], cursor=fingerprint)


@sensor(
    name="retailops_approved_promotions", job=uplift_writeback_job, minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Runs the uplift writeback when the approved promotions with an uplift forecast change.",
)
def approved_promotions_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource):
    return approved_promotions_request(warehouse.path, context.cursor)


writeback_jobs = [writeback_job, replenishment_writeback_job, uplift_writeback_job]
writeback_schedules = [replenishment_writeback_schedule, uplift_writeback_schedule]
writeback_sensors = [approved_promotions_sensor]


def writeback_resources() -> dict:
    return {"erp": erp_target_resource()}


def execute_writeback_job(instance, job_name: str = "retailops_writeback") -> list[str]:
    """Run a writeback job in process (as `retailops run` does after the build); the summary's lines."""
    from dagster import DagsterExecutionStepExecutionError

    from orchestration.definitions import defs

    try:
        result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=True)
    except DagsterExecutionStepExecutionError as exc:
        # A writeback problem (bad config, target unreachable, bad forecast value) is shown as its message.
        if isinstance(exc.user_exception, WritebackError):
            raise exc.user_exception from exc
        raise
    lines = []
    for event in result.get_asset_materialization_events():
        metadata = {k: v.value for k, v in event.materialization.metadata.items()}
        if metadata.get("batch_id"):
            lines.append(f"writeback batch {metadata['batch_id']} to {metadata['destination']}: "
                         f"{metadata['values_written']} values, {metadata['held_for_review']} held for review")
        else:
            lines.append(f"writeback to {metadata['destination']}: nothing new "
                         f"({metadata['held_for_review']} held for review)")
        if metadata.get("manifest"):
            manifest = Path(metadata["manifest"])
            lines.append(f"wrote {manifest}")
            for entry in json.loads(manifest.read_text())["files"]:
                lines.append(f"wrote {manifest.parent / entry['file']} ({entry['row_count']} rows)")
    return lines
