"""The promotion and stock report: bi/promotion_and_stock_report.html, rendered after each BI snapshot.

It reads the marts from the snapshot just published (so its figures are exactly what BI tools
see, and it names that version) and ops.column_provenance from the warehouse, to say which
inputs are derived. The queries and the HTML are in orchestration/lib/report/.
"""

from pathlib import Path

import duckdb
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from orchestration.bi import BiSnapshotResource, bi_marts_snapshot
from orchestration.lib.bi_snapshot import current_snapshot
from orchestration.lib.code_version import source_version
from orchestration.lib.report import REPORT_FILE, load_report_data, render_report, write_report
from orchestration.lib.report.data import REQUIRED_MARTS, margin_ranking
from orchestration.lib.report.page import PROMOTIONS_PER_END
from orchestration.lib.retries import retry_when_warehouse_locked
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource

REPORT_KEY = AssetKey(["bi", "promotion_and_stock_report"])


@asset(
    key=REPORT_KEY,
    deps=[
        bi_marts_snapshot.key,
        *(AssetKey(["marts", name]) for name in REQUIRED_MARTS),
        AssetKey(["ops", "column_provenance"]),
    ],
    group_name="bi",
    kinds={"html"},
    owners=["team:finance", "team:planning"],
    code_version=source_version("orchestration.report", "orchestration.lib.report"),
    pool=WAREHOUSE_POOL,
    description=(
        "Promotion results (actual against baseline, incremental margin and ROI rankings) and stock "
        "exposure (stock-out risk and excess by category and location, latest snapshot date) as one "
        "self-contained HTML page with SVG charts, written to bi/promotion_and_stock_report.html."
    ),
)
def promotion_and_stock_report(
    context: AssetExecutionContext, warehouse: WarehouseResource, bi: BiSnapshotResource
) -> MaterializeResult:
    folder = bi.folder(Path(warehouse.path))
    version = current_snapshot(folder)
    if version is None:
        raise RuntimeError(f"no BI snapshot in {folder}: bi/marts_snapshot must run first")
    with retry_when_warehouse_locked(), duckdb.connect() as con:
        con.execute(f"attach '{_sql_path(version.duckdb_file)}' as bi_snapshot (read_only)")
        con.execute(f"attach '{_sql_path(Path(warehouse.path))}' as warehouse (read_only)")
        data = load_report_data(
            con, marts="bi_snapshot.marts", ops="warehouse.ops", source=f"BI snapshot {version.version_id}"
        )
    report = write_report(render_report(data), folder, REPORT_FILE)
    charted = len(margin_ranking(data.measured_promotions, PROMOTIONS_PER_END))
    context.log.info(f"wrote {report} ({charted} promotions charted)")
    return MaterializeResult(
        metadata={
            "report": MetadataValue.path(str(report)),
            "report_url": MetadataValue.url(report.as_uri()),
            "snapshot_version": version.version_id,
            "size_bytes": report.stat().st_size,
            "promotions": len(data.promotions),
            "promotions_measured": len(data.measured_promotions),
            "promotions_charted": charted,
            "stock_snapshot_date": str(data.stock_snapshot_date) if data.stock_snapshot_date else "none",
            "stock_item_locations": sum(g.item_locations for g in data.stock_by_location),
            "stock_at_risk": sum(g.at_risk for g in data.stock_by_location),
        }
    )


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
