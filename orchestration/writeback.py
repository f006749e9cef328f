"""Writeback asset: uplift per promotion and replenishment targets as ERP import files."""


from pathlib import Path

from dagster import AssetKey, MaterializeResult, asset

from orchestration.resources import RunFolders, WarehouseResource
from writeback.files import write_batch

UPLIFT_COLUMNS = """promotion_id, item_id, location_id, start_date, end_date, baseline_units, predicted_units,
    uplift_units, uplift_pct, uplift_lower, uplift_upper, method, model_version"""
TARGET_COLUMNS = """item_id, location_id, as_of_date as effective_date, safety_stock_units, reorder_point_units,
    order_up_to_units, suggested_order_units, method, model_version"""


@asset(
    key=AssetKey(["writeback", "erp_outbound_files"]),
    deps=[AssetKey(["forecast", "promotion_uplift"]), AssetKey(["forecast", "replenishment_targets"])],
    group_name="writeback",
    kinds={"csv"},
    description="CSV files for ERP import in outbound/, with a manifest (row count, sha256, batch id).",
)
def erp_outbound_files(warehouse: WarehouseResource, folders: RunFolders) -> MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        uplift = con.execute(
            f"select {UPLIFT_COLUMNS} from forecast.promotion_uplift order by promotion_id, item_id, location_id"
        ).df()
        targets = con.execute(
            f"select {TARGET_COLUMNS} from forecast.replenishment_targets order by item_id, location_id"
        ).df()
        model_versions = con.execute(
            "select distinct model_version from forecast.replenishment_targets order by 1"
        ).fetchall()
    model_version = ",".join(str(v[0]) for v in model_versions) or "unknown"
    batch = write_batch(
        Path(folders.outbound_dir),
        {"promotion_uplift": uplift, "replenishment_targets": targets},
        model_version,
    )
    return MaterializeResult(
        metadata={
            "batch_id": batch.batch_id,
            "manifest": str(batch.manifest),
            "files": len(batch.files),
            "rows": sum(f.rows for f in batch.files),
            "already_written": batch.already_written,
        }
    )
