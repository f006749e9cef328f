"""Ingestion: landing extracts → `raw.<system>__<entity>`, partitioned by extract date.

- One asset per entity, partitioned by extract date (a dynamic partition per date folder, added
  by `retailops run` and by the landing sensor). A run over a range of dates loads them in one
  step; a run without a partition (the daily schedule) loads every file not loaded yet. The
  loader is idempotent through `ops.file_registry`, so re-running any partition changes nothing
  (docs/decisions/0004-ingestion-partitions.md).
- Checks per raw entity: `rows_conserved` (rows in file = loaded + quarantined, against the
  tables) and the Great Expectations suite, split into `expectations_critical` (blocking: dbt
  does not run after a failure) and `expectations_warnings`.
- `ops/misplaced_landing_files` records files that fit no entity; `ops/column_provenance` loads
  provenance.json.
- `landing_sensor` starts the main job when new files have landed (files the warehouse has
  registered already start nothing).
"""


import time
import uuid
import warnings
from pathlib import Path

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    BetaWarning,
    Config,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    asset_check,
    multi_asset_check,
    sensor,
)

from ingestion.contract import ENTITIES, Entity
from ingestion.loader import (
    REJECTED,
    EntityLoad,
    conservation_report,
    load_entity,
    load_provenance,
    record_misplaced_files,
    scan_landing,
)
from orchestration.lib.code_version import source_version
from orchestration.lib.landing_watch import landing_arrivals, partition_range_tags
from orchestration.lib.retries import retry_when_warehouse_locked
from orchestration.resources import WAREHOUSE_POOL, RunFolders, WarehouseResource

EXTRACT_DATES = "extract_date"
extract_date_partitions = DynamicPartitionsDefinition(name=EXTRACT_DATES)
# A file must be unchanged this long before the sensor asks for a run.
SENSOR_SETTLE_SECONDS = 30
MAIN_JOB = "retailops_main"
MASTER_DATA_PRIORITY = 10
# The landing contract and the loader are data engineering's; so are the files' lineage and checks.
OWNERS = ["team:data-engineering"]


def landing_key(entity: Entity) -> AssetKey:
    return AssetKey(["landing", entity.name])


def raw_key(entity: Entity) -> AssetKey:
    return AssetKey(["raw", entity.name])


class IngestionConfig(Config):
    """Files modified less than `settle_seconds` ago are left for the next run (0 = load everything)."""

    settle_seconds: float = 0.0


# Landing extracts are produced by the source systems, not by us: external assets, so the
# lineage in the UI starts at the file drop.
landing_specs = [
    AssetSpec(
        key=landing_key(entity),
        description=f"{entity.description} Files at landing/{entity.path}/<extract_date>/.",
        group_name="landing",
        kinds={"csv", "parquet"},
        owners=OWNERS,
    )
    for entity in ENTITIES
]


def _load_metadata(result: EntityLoad, dates: list[str] | None) -> dict:
    rejected = {o.file: o.reason for o in result.outcomes if o.outcome == REJECTED}
    return {
        "files_loaded": result.files_loaded,
        "files_rejected": result.files_rejected,
        "files_duplicate": result.files_duplicate,
        "files_deferred": result.files_deferred,
        "files_already_loaded": result.already_registered,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "extract_dates_restated": MetadataValue.json(result.dates_restated),
        "extract_dates_requested": "all" if dates is None else f"{len(dates)} ({dates[0]} … {dates[-1]})",
        **({"rejected_files": MetadataValue.json(rejected)} if rejected else {}),
    }


def _raw_asset(entity: Entity) -> AssetsDefinition:
    @asset(
        key=raw_key(entity),
        deps=[landing_key(entity)],
        # Ids are checked against the master data loaded so far, so items and locations load first
        # in a run. A priority, not a dependency: Dagster cannot run a partitioned asset that depends
        # on another partitioned asset without a partition (the daily schedule's runs).
        op_tags={"dagster/priority": str(MASTER_DATA_PRIORITY if entity.master_data else 0)},
        partitions_def=extract_date_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        group_name="raw",
        kinds={"duckdb"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        code_version=source_version("ingestion"),
        description=(f"Landed extracts of {entity.path}, typed per the landing contract, one transaction per "
                     "file; failing rows in ops.quarantine."),
    )
    def _load(context: AssetExecutionContext, config: IngestionConfig, warehouse: WarehouseResource,
              folders: RunFolders) -> MaterializeResult:
        dates = list(context.partition_keys) if context.has_partition_key or context.has_partition_key_range else None
        load_id = context.run_id or uuid.uuid4().hex
        # Idempotent (ops.file_registry): a retry after the lock was busy loads each file once.
        with retry_when_warehouse_locked(), warehouse.connect() as con:
            result = load_entity(con, Path(folders.landing_dir), entity, load_id, dates,
                                 settle_seconds=config.settle_seconds)
        for outcome in result.outcomes:
            if outcome.outcome == REJECTED:
                context.log.warning(f"{outcome.file}: rejected: {outcome.reason}")
            for warning in outcome.warnings:
                context.log.warning(f"{outcome.file}: {warning}")
        metadata = _load_metadata(result, dates)
        metadata["dagster/row_count"] = result.rows_loaded
        return MaterializeResult(metadata=metadata)

    return _load


with warnings.catch_warnings():
    # A single-run backfill policy is what lets one run load a range of extract dates.
    warnings.simplefilter("ignore", BetaWarning)
    raw_assets = [_raw_asset(entity) for entity in ENTITIES]


@asset(
    key=AssetKey(["ops", "misplaced_landing_files"]),
    deps=[landing_key(entity) for entity in ENTITIES],
    group_name="raw",
    kinds={"duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    code_version=source_version("ingestion"),
    description="Files in the landing folder that fit no entity or date folder: rejected, recorded in "
                "ops.file_registry with the reason. Files still being written are listed, not read.",
)
def misplaced_landing_files(context: AssetExecutionContext, warehouse: WarehouseResource,
                            folders: RunFolders) -> MaterializeResult:
    landing_dir = Path(folders.landing_dir)
    with retry_when_warehouse_locked(), warehouse.connect() as con:
        outcomes = record_misplaced_files(con, landing_dir, context.run_id)
    for outcome in outcomes:
        context.log.warning(f"{outcome.file}: rejected: {outcome.reason}")
    in_progress = scan_landing(landing_dir).in_progress
    return MaterializeResult(metadata={
        "files_rejected": len(outcomes),
        "rejected": MetadataValue.json({o.file: o.reason for o in outcomes}),
        "files_still_being_written": MetadataValue.json(in_progress),
    })


@asset(
    key=AssetKey(["ops", "column_provenance"]),
    deps=[landing_key(entity) for entity in ENTITIES],
    group_name="raw",
    kinds={"duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    code_version=source_version("ingestion"),
    description="Which landed columns are observed, derived by an adapter's documented rule, or synthetic.",
)
def column_provenance(warehouse: WarehouseResource, folders: RunFolders) -> MaterializeResult:
    with retry_when_warehouse_locked(), warehouse.connect() as con:
        rows = load_provenance(con, Path(folders.landing_dir))
    return MaterializeResult(metadata={"columns_described": rows})


def _conservation_check(entity: Entity):
    @asset_check(
        asset=raw_key(entity),
        name="rows_conserved",
        blocking=True,
        pool=WAREHOUSE_POOL,
        description="For every accepted file: rows in the file = rows in raw + rows in ops.quarantine.",
    )
    def _check(warehouse: WarehouseResource) -> AssetCheckResult:
        with retry_when_warehouse_locked(), warehouse.connect(read_only=True) as con:
            report = conservation_report(con, entity)
        return AssetCheckResult(
            passed=report.holds,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "files_checked": report.files_checked,
                "rows_in_files": report.rows_in_files,
                "rows_loaded": report.rows_loaded,
                "rows_quarantined": report.rows_quarantined,
                "violations": MetadataValue.json(report.violations[:20]),
            },
        )

    return _check


def _expectation_checks(entity: Entity):
    @multi_asset_check(
        name=f"{entity.name}_expectations",
        pool=WAREHOUSE_POOL,
        specs=[
            AssetCheckSpec("expectations_critical", asset=raw_key(entity), blocking=True,
                           description="Great Expectations, critical: the loader's promises (required values, "
                                       "unique keys per extract date, allowed values, bounds). Blocks dbt."),
            AssetCheckSpec("expectations_warnings", asset=raw_key(entity),
                           description="Great Expectations, warnings: messy but real data, loaded and flagged."),
        ],
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
        from expectations.runner import run_suite, to_asset_check_results
        from expectations.suites import SUITES

        with retry_when_warehouse_locked(), warehouse.connect(read_only=True) as con:
            # The rows this run loaded: files loaded earlier were validated by their own run.
            result = run_suite(con, SUITES[entity.path], load_id=context.run.run_id)
        yield from to_asset_check_results(raw_key(entity), result)

    return _check


ingestion_checks = [
    *(_conservation_check(entity) for entity in ENTITIES),
    *(_expectation_checks(entity) for entity in ENTITIES),
]


@sensor(
    job_name=MAIN_JOB,
    minimum_interval_seconds=60,
    # On from the start under `retailops ui`, so files dropped into the landing folder are built
    # (docs/decisions/0006-dagster-deployment.md). It never runs outside the daemon.
    default_status=DefaultSensorStatus.RUNNING,
    description="Starts the main job when new files have landed (and stopped changing), covering every "
                "extract date: the loader skips what it has already loaded. Files the warehouse has "
                "already registered (loaded by `retailops run`, say) start nothing.",
)
def landing_sensor(context: SensorEvaluationContext, folders: RunFolders, warehouse: WarehouseResource):
    landing_dir = Path(folders.landing_dir)
    arrivals = landing_arrivals(landing_dir, context.cursor, time.time(), SENSOR_SETTLE_SECONDS)
    if not arrivals.new_files:
        return SkipReason("no new files in the landing folder")
    if not arrivals.ready:
        return SkipReason(f"{len(arrivals.settling)} new files still changing, e.g. {arrivals.settling[0]}")
    try:
        registered = _registered_files(Path(warehouse.path))
    except duckdb.Error:  # a run is writing it: look again at the next tick, cursor unmoved
        return SkipReason("the warehouse is being written; will look at the new files again")
    unloaded = [name for name in arrivals.new_files if _file_signature(landing_dir, name) not in registered]
    if not unloaded:
        return SensorResult(skip_reason=f"{len(arrivals.new_files)} new files, all loaded already",
                            cursor=arrivals.cursor)
    existing = context.instance.get_dynamic_partitions(EXTRACT_DATES)
    added = [d for d in arrivals.new_extract_dates if d not in existing]
    return SensorResult(
        run_requests=[RunRequest(run_key=arrivals.run_key, job_name=MAIN_JOB,
                                 tags=partition_range_tags([*existing, *added]))],
        dynamic_partitions_requests=[extract_date_partitions.build_add_request(added)] if added else [],
        cursor=arrivals.cursor,
    )


def _file_signature(landing_dir: Path, relative_path: str) -> tuple[str, int, int]:
    stat = (landing_dir / relative_path).stat()
    return relative_path, stat.st_size, stat.st_mtime_ns


def register_extract_dates(instance, landing_dir: Path, warehouse: Path | None = None) -> dict[str, str]:
    """Add a partition per extract date in the landing folder; return the tags of a run that loads what is new.

    The run covers the partitions (a range, in the order they were added) from the first to the
    last extract date with a file the warehouse has not registered; with nothing new it has no
    partition, which loads nothing and spares Dagster an event per partition and asset.
    """
    scan = scan_landing(landing_dir)
    existing = instance.get_dynamic_partitions(EXTRACT_DATES)
    new = [d for d in scan.extract_dates if d not in existing]
    if new:
        instance.add_dynamic_partitions(EXTRACT_DATES, new)
    keys = [*existing, *new]
    registered = _registered_files(warehouse)
    pending = set()
    for landed in scan.extracts:
        stat = landed.path.stat()
        if (landed.relative_path, stat.st_size, stat.st_mtime_ns) not in registered:
            pending.add(landed.extract_date.isoformat())
    if not pending:
        return {}
    positions = sorted(keys.index(d) for d in pending)
    return partition_range_tags(keys[positions[0]:positions[-1] + 1])


def _registered_files(warehouse: Path | None) -> set[tuple[str, int, int]]:
    if warehouse is None or not warehouse.exists():
        return set()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        exists = con.execute("select count(*) from information_schema.tables "
                             "where table_schema = 'ops' and table_name = 'file_registry'").fetchall()[0][0]
        columns = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                             "where table_schema = 'ops' and table_name = 'file_registry'").fetchall()}
        if not exists or "modified_ns" not in columns:
            return set()
        return set(con.execute("select file, size_bytes, modified_ns from ops.file_registry").fetchall())


def ingestion_summary(warehouse: Path, load_id: str, shown: int = 10) -> list[str]:
    """Lines for `retailops run`: what this load did with each file, rejected files with their reasons."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = dict(con.execute(
            "select outcome, count(*) from ops.file_registry where load_id = ? group by 1", [load_id]).fetchall())
        rows = con.execute(
            "select coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) from ops.file_registry "
            "where load_id = ? and outcome in ('loaded', 'superseded')", [load_id]).fetchall()[0]
        rejected = con.execute(
            "select file, reason from ops.file_registry where load_id = ? and outcome = 'rejected' order by file",
            [load_id]).fetchall()
    lines = [
        f"ingestion: {counts.get('loaded', 0) + counts.get('superseded', 0)} files loaded "
        f"({rows[0]} rows loaded, {rows[1]} rows quarantined in ops.quarantine), "
        f"{counts.get('rejected', 0)} files rejected, {counts.get('duplicate', 0)} duplicates skipped"
    ]
    lines += [f"  rejected {file}: {reason}" for file, reason in rejected[:shown]]
    if len(rejected) > shown:
        lines.append(f"  … and {len(rejected) - shown} more rejected files (ops.file_registry)")
    return lines
