"""BI snapshot asset: after the marts are built, publish them to bi/ for BI tools (DESIGN §1).

The asset depends on every dbt model in schema marts, so it only runs once both dbt
selections succeeded (a failed model or dbt test fails its step and Dagster skips this one):
a failed build leaves the previous snapshot in place. The copy itself is in
orchestration/lib/bi_snapshot.py.
"""

from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, ConfigurableResource, MaterializeResult, asset

from orchestration.dbt import dbt_after_forecast, dbt_before_forecast
from orchestration.lib.bi_snapshot import SNAPSHOT_FILE, bi_dir_for, publish_snapshot, sqlalchemy_url
from orchestration.lib.code_version import source_version
from orchestration.lib.retries import retry_when_warehouse_locked
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource

MART_KEYS: list[AssetKey] = sorted(
    (key for key in (*dbt_before_forecast.keys, *dbt_after_forecast.keys) if key.path[0] == "marts"),
    key=lambda key: key.to_user_string(),
)


class BiSnapshotResource(ConfigurableResource):
    """Where the snapshot is published: `bi_dir`, else $RETAILOPS_BI_DIR, else bi/ beside the
    warehouse's folder (bi/ at the project root for warehouse/retail.duckdb)."""

    bi_dir: str | None = None
    keep_versions: int = 3

    def folder(self, warehouse: Path) -> Path:
        return Path(self.bi_dir).resolve() if self.bi_dir else bi_dir_for(warehouse)


@asset(
    key=AssetKey(["bi", "marts_snapshot"]),
    deps=MART_KEYS,
    group_name="bi",
    kinds={"duckdb", "parquet"},
    owners=["team:data-engineering"],
    code_version=source_version("orchestration.lib.bi_snapshot"),
    pool=WAREHOUSE_POOL,
    description=(
        "Read-only copy of every mart for BI tools: bi/retail_marts.duckdb and bi/current/parquet/*.parquet, "
        "replaced atomically after each successful build."
    ),
)
def bi_marts_snapshot(
    context: AssetExecutionContext, warehouse: WarehouseResource, bi: BiSnapshotResource
) -> MaterializeResult:
    tables = [key.path[1] for key in MART_KEYS]
    folder = bi.folder(Path(warehouse.path))
    with retry_when_warehouse_locked():
        version = publish_snapshot(Path(warehouse.path), folder, tables, keep_versions=bi.keep_versions)
    context.log.info(f"published BI snapshot {version.version_id} to {folder}")
    return MaterializeResult(
        metadata={
            "version_id": version.version_id,
            "duckdb_file": str(folder / SNAPSHOT_FILE),
            "parquet_dir": str(folder / "current" / "parquet"),
            "sqlalchemy_url": sqlalchemy_url(folder),
            "tables": len(version.row_counts),
            "rows": sum(version.row_counts.values()),
            **{f"rows/{table}": rows for table, rows in version.row_counts.items()},
        }
    )
