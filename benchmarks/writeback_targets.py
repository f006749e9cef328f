"""Writeback to both targets, side by side, on the Breakfast at the Frat forecast.

Copies the warehouse built by `make run-real` (default warehouse/batf.duckdb) to a temporary folder
and, for each target, times: the first batch (every value: 3,909 item-stores x 4 replenishment
targets + every promotion's uplift), a rerun with nothing changed, a rerun after every value moved
by 10 %, and a rollback of that batch. Thresholds are off ('inf') so every value goes out.

    .venv/bin/python benchmarks/writeback_targets.py [--warehouse warehouse/batf.duckdb]

PostgreSQL: the `test` database on 127.0.0.1:5432, a throw-away schema written by the
least-privilege role `retailops_writeback` (created if missing), dropped at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from writeback.engine import rollback_batch, run_writeback  # noqa: E402
from writeback.postgres import role_grants_sql  # noqa: E402
from writeback.settings import WritebackSettings  # noqa: E402

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ROLE = "retailops_writeback"
FAMILIES = ["promotion_uplift", "replenishment_targets"]


def _timed(label: str, action, results: dict) -> object:
    started = time.perf_counter()
    value = action()
    results[label] = time.perf_counter() - started
    return value


def _raise_forecast(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("""update forecast.replenishment_targets set safety_stock_units = safety_stock_units * 1.1,
                       reorder_point_units = reorder_point_units * 1.1, order_up_to_units = order_up_to_units * 1.1,
                       suggested_order_units = suggested_order_units * 1.1""")
        con.execute("update forecast.promotion_uplift set uplift_units = uplift_units * 1.1")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", default=str(ROOT / "warehouse" / "batf.duckdb"))
    args = parser.parse_args()
    source = Path(args.warehouse)
    if not source.exists():
        print(f"{source} not found: run `make run-real` first", file=sys.stderr)
        return 2
    admin = psycopg.connect(ADMIN_DSN, autocommit=True)
    admin.execute(f"""do $$ begin if not exists (select from pg_roles where rolname = '{ROLE}')
                      then create role {ROLE} login; end if; end $$""")
    schema = f"erp_staging_bench{uuid.uuid4().hex[:8]}"
    for statement in role_grants_sql(schema, ROLE, "test"):
        admin.execute(statement)
    table: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for target in ("files", "postgres"):
                warehouse = Path(tmp) / f"{target}.duckdb"
                shutil.copyfile(source, warehouse)
                settings = WritebackSettings.from_values(
                    warehouse=warehouse, outbound_dir=Path(tmp) / "outbound", target=target,
                    dsn=f"postgresql://{ROLE}@127.0.0.1:5432/test", erp_schema=schema,
                    max_change_pct="inf", max_change_at_cost="inf",
                )
                results: dict[str, float] = {}
                first = _timed("first batch", lambda s=settings: run_writeback(s, FAMILIES, "bench-1", "bench"),
                               results)
                counts[target] = first.written
                _timed("rerun, nothing changed", lambda s=settings: run_writeback(s, FAMILIES, "bench-2", "bench"),
                       results)
                _raise_forecast(warehouse)
                moved = _timed("rerun, every value +10 %",
                               lambda s=settings: run_writeback(s, FAMILIES, "bench-3", "bench"), results)
                counts[f"{target} moved"] = moved.written
                _timed("rollback of that batch",
                       lambda s=settings, b=moved.batch.batch_id: rollback_batch(s, b, "bench"), results)
                table[target] = results
    finally:
        admin.execute(f"drop schema if exists {schema} cascade")
        admin.close()
    print(f"values in the first batch: files {counts['files']}, postgres {counts['postgres']}; "
          f"changed by +10 %: {counts['files moved']}")
    print("| step | files | postgres | postgres ÷ files |")
    print("|---|---|---|---|")
    for step in table["files"]:
        files, postgres = table["files"][step], table["postgres"][step]
        print(f"| {step} | {files:.2f} s | {postgres:.2f} s | {postgres / files:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
