"""Ingestion throughput: a generated 10-million-row POS extract through the ingestion asset vs DuckDB's bare load.

Side by side, in one run, alternating, each into a fresh DuckDB warehouse file:

- **ingestion**: the Dagster asset `raw/pos__sales` materialised for the extract's date partition
  (the loader: checksum, read as text, TRY_CAST per column, required / allowed / minimum checks,
  unknown item and location ids, fractional units, duplicate keys, line numbers, quarantine,
  registry, one transaction), after items and locations were loaded (not timed); the line numbers
  of every row are then checked against the generator's formula;
- **bare**: `create table sales as select * from read_csv('<file>')`, DuckDB's own load with type
  auto-detection, no checks — the physical limit here;
- **bare, contract types**: the same with the contract's column types declared (for reference);
- **floor**: the reader, typed as the contract, inserted straight into `raw.pos__sales` with its load
  metadata columns: one write, no checks, no line numbers (what any loader into that table pays).

The extract has unique keys (10 business days × 500 stores × 2,000 items) and 0.1% of rows with a
problem (a non-numeric units value), so the quarantine path is exercised.

    .venv/bin/python benchmarks/ingest_throughput.py [--rows 10000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingestion.contract import ITEMS, LOCATIONS, SALES  # noqa: E402
from ingestion.loader import load_entity  # noqa: E402

STORES, ITEMS_COUNT = 500, 2_000
EXTRACT_DATE = "2024-01-11"


def generate(landing: Path, rows: int) -> Path:
    """Items, locations and one POS extract of `rows` rows (unique keys; every 1,000th row has units 'n/a')."""
    con = duckdb.connect()
    items = landing / ITEMS.path / "2024-01-01" / "items.csv"
    locations = landing / LOCATIONS.path / "2024-01-01" / "locations.csv"
    sales = landing / SALES.path / EXTRACT_DATE / "sales.csv"
    for path in (items, locations, sales):
        path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"""copy (select lpad(i::varchar, 6, '0') as item_id, 'item ' || i as item_name, 'C' as category,
                                'S' as subcategory, 'B' as brand, 1.00 as unit_cost, 2.50 as regular_price,
                                6 as pack_size, 6 as moq, 'V' as supplier_id, 7 as lead_time_days
                         from range({ITEMS_COUNT}) t(i)) to '{items}' (header, delimiter ',')""")
    con.execute(f"""copy (select lpad(i::varchar, 4, '0') as location_id, 'store ' || i as location_name,
                                'store' as location_type, 'R' as region, 'A' as "cluster"
                         from range({STORES}) t(i)) to '{locations}' (header, delimiter ',')""")
    per_day = STORES * ITEMS_COUNT
    con.execute(f"""copy (select (date '2024-01-01' + cast(i // {per_day} as integer))::varchar as business_date,
                                lpad(((i % {per_day}) // {ITEMS_COUNT})::varchar, 4, '0') as location_id,
                                lpad((i % {ITEMS_COUNT})::varchar, 6, '0') as item_id,
                                case when i % 1000 = 999 then 'n/a' else ((i * 7) % 13)::varchar end as units,
                                (((i * 7) % 13) * 2.49)::decimal(18, 2)::varchar as net_sales,
                                '0.00' as discount_amount, ((i * 3) % 11)::varchar as baskets, '1' as period_days
                         from range({rows}) t(i) order by i) to '{sales}' (header, delimiter ',')""")
    con.close()
    return sales


def _fresh(path: Path) -> Path:
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def time_ingestion_asset(landing: Path, warehouse: Path) -> float:
    from dagster import DagsterInstance, materialize

    from orchestration.ingestion import EXTRACT_DATES, raw_assets
    from orchestration.resources import RunFolders, WarehouseResource

    with duckdb.connect(str(warehouse)) as con:  # master data first, not timed
        load_entity(con, landing, ITEMS, "master")
        load_entity(con, landing, LOCATIONS, "master")
    sales_asset = next(a for a in raw_assets if a.key.path == ["raw", "pos__sales"])
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(EXTRACT_DATES, [EXTRACT_DATE])
        started = time.perf_counter()
        result = materialize(
            [sales_asset], instance=instance, partition_key=EXTRACT_DATE,
            resources={"warehouse": WarehouseResource(path=str(warehouse)),
                       "folders": RunFolders(landing_dir=str(landing), outbound_dir=str(warehouse.parent))},
        )
        elapsed = time.perf_counter() - started
    assert result.success
    return elapsed


# The contract's POS columns the generated file has (no returns_units), and their types for read_csv.
READ_COLUMNS = [c for c in SALES.columns if c.name != "returns_units"]
READ_TYPES = "{" + ", ".join(f"'{c.name}': '{c.type}'" for c in READ_COLUMNS) + "}"


def time_bare(sales: Path, warehouse: Path, typed: bool) -> float:
    columns = f", columns = {READ_TYPES}" if typed else ""
    started = time.perf_counter()
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"create table sales as select * from read_csv('{sales}', header = true{columns}"
                    f"{', ignore_errors = true' if typed else ''})")
    return time.perf_counter() - started


def time_floor(sales: Path, warehouse: Path) -> float:
    """The reader, typed as the contract, straight into `raw.pos__sales` with its load metadata: one write,
    no checks, no line numbers, no registry. What any loader into this table pays at least."""
    from ingestion.loader import METADATA_COLUMNS, ensure_warehouse_schema

    names = ", ".join(f'"{c.name}"' for c in READ_COLUMNS)
    metadata = ", ".join(name for name, _ in METADATA_COLUMNS)
    with duckdb.connect(str(warehouse)) as con:
        ensure_warehouse_schema(con)
        started = time.perf_counter()
        con.execute(f"""insert into raw.pos__sales ({names}, {metadata})
                        select *, 'pos/sales/{EXTRACT_DATE}/sales.csv', date '{EXTRACT_DATE}', 'floor',
                               now()::timestamp, 0
                        from read_csv('{sales}', header = true, columns = {READ_TYPES}, ignore_errors = true)""")
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="where to put the files (default: a temp dir)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp())
    work = Path(args.workdir or tempfile.mkdtemp(prefix="ingest_bench_"))
    landing = work / "landing"
    try:
        started = time.perf_counter()
        sales = generate(landing, args.rows)
        size_mb = sales.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows, {size_mb:.0f} MB in {time.perf_counter() - started:.0f} s", flush=True)
        times: dict[str, list[float]] = {"ingestion asset": [], "bare read_csv": [], "bare, contract types": [],
                                         "floor: reader into raw.pos__sales": []}
        for repeat in range(args.repeats):
            times["bare read_csv"].append(time_bare(sales, _fresh(work / "bare.duckdb"), typed=False))
            times["ingestion asset"].append(time_ingestion_asset(landing, _fresh(work / "ingest.duckdb")))
            times["bare, contract types"].append(time_bare(sales, _fresh(work / "typed.duckdb"), typed=True))
            times["floor: reader into raw.pos__sales"].append(time_floor(sales, _fresh(work / "floor.duckdb")))
            print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
        with duckdb.connect(str(work / "ingest.duckdb"), read_only=True) as con:
            loaded, quarantined = con.execute(
                "select rows_loaded, rows_quarantined from ops.file_registry where entity = 'pos/sales'"
            ).fetchall()[0]
            # Each row's line follows from its key (the generator's row i is line i + 2): an independent
            # check that the loader's line numbers survived reading the file in parallel.
            row_index = (f"(business_date - date '2024-01-01') * {STORES * ITEMS_COUNT} "
                         f"+ cast(location_id as bigint) * {ITEMS_COUNT} + cast(item_id as bigint)")
            wrong_lines = con.execute(
                f"select count(*) from raw.pos__sales where _row_number <> {row_index} + 2").fetchall()[0][0]
            wrong_quarantine_lines = con.execute(
                "select count(*) from ops.quarantine where (line_number - 2) % 1000 <> 999").fetchall()[0][0]
        assert wrong_lines == 0 and wrong_quarantine_lines == 0, (wrong_lines, wrong_quarantine_lines)
        median = {k: statistics.median(v) for k, v in times.items()}
        print(f"\nrows loaded {loaded:,}, quarantined {quarantined:,} (expected {args.rows // 1000:,}); "
              "every loaded and quarantined row's line number checked against the generator")
        print("\n| load | median wall time | runs | rows/s |")
        print("|---|---|---|---|")
        for name, values in times.items():
            runs = ", ".join(f"{v:.1f}" for v in values)
            print(f"| {name} | {median[name]:.1f} s | {runs} | {args.rows / median[name] / 1e6:.2f} M |")
        print(f"\nratio ingestion / bare read_csv: {median['ingestion asset'] / median['bare read_csv']:.2f}× "
              f"(target ≤ 1.5×); / bare with contract types: "
              f"{median['ingestion asset'] / median['bare, contract types']:.2f}×; "
              f"floor / bare read_csv: {median['floor: reader into raw.pos__sales'] / median['bare read_csv']:.2f}×")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
