"""Marts build speed, measured side by side in one run (issue 4; results in docs/benchmarks.md).

1. **dbt vs hand-written SQL.** A generated warehouse with `--pos-rows` POS rows (daily, one
   row per store × item × day) is built twice from the same raw tables: by `dbt build` of the
   marts below, and by `benchmarks/marts_handwritten.sql`, the same definitions as one plain
   DuckDB script (the limit). Both results are compared before the times are reported.
2. **One-day incremental at 1 year vs 3 years of history.** Two smaller warehouses are built in
   full, one more day of sales and snapshots lands, and the build runs with that day as its
   date window (as a Dagster daily partition runs it).

The forecast tables are generated (a constant baseline, +30 % in promoted weeks): Prophet is
not what is measured. DuckDB uses at most `--threads` threads; dbt runs one model at a time.

    .venv/bin/python benchmarks/marts_speed.py --work /tmp/marts_bench [--pos-rows 50000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingestion.contract import ENTITIES  # noqa: E402

DBT = Path(sys.executable).with_name("dbt")
PROJECT = REPO / "dbt_project"
HAND_SQL = REPO / "benchmarks" / "marts_handwritten.sql"
START = date(2022, 1, 1)  # a Saturday; retail weeks end on Wednesday
# what the hand-written script computes, and so what dbt builds for the comparison
MARTS = ["fct_sell_through", "fct_stock_exposure", "fct_promotion_profitability", "fct_promotion_summary",
         "dim_item", "dim_location", "dim_promotion", "dim_calendar"]  # fmt: skip
# the incremental models (staging over POS and snapshots is incremental too: decision 0008)
INCREMENTAL = ["stg_pos__sales", "stg_inventory__snapshots", "int_demand_weekly", "int_inventory_weekly",
               "fct_sell_through", "fct_stock_exposure"]  # fmt: skip
# every model and the exceptions snapshot, without the tests (what an incremental day rebuilds)
MODELS_AND_SNAPSHOT = ("build", "--resource-type", "model", "--resource-type", "snapshot")
META = "_file VARCHAR, _extract_date DATE, _load_id VARCHAR, _loaded_at TIMESTAMP, _row_number BIGINT"


@dataclass(frozen=True)
class Shape:
    stores: int
    items: int
    days: int

    @property
    def pos_rows(self) -> int:
        return self.stores * self.items * self.days


def _connect(path: Path, threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute(f"set threads = {threads}")
    return con


def generate(path: Path, shape: Shape, threads: int) -> float:
    """Raw and forecast tables for `shape`: daily POS, Wednesday snapshots, 1-week promotions."""
    started = time.perf_counter()
    path.unlink(missing_ok=True)
    with _connect(path, threads) as con:
        for schema in ("raw", "forecast"):
            con.execute(f"create schema {schema}")
        for entity in ENTITIES:
            columns = ", ".join(f"{c.name} {c.type}" for c in entity.columns)
            con.execute(f"create table raw.{entity.name} ({columns}, {META})")
        con.execute(
            "create temp table stores as select range as s, 'S' || lpad(range::varchar, 4, '0') as location_id "
            f"from range({shape.stores})"
        )
        con.execute(
            "create temp table goods as select range as i, lpad(range::varchar, 6, '0') as item_id, "
            f"cast(1 + (range % 50) / 10 as decimal(18, 4)) as unit_cost from range({shape.items})"
        )
        con.execute("""insert into raw.erp__items (item_id, item_name, category, subcategory, brand, unit_cost,
            regular_price, pack_size, moq, supplier_id, lead_time_days, _file, _extract_date, _load_id, _loaded_at,
            _row_number)
            select item_id, 'item ' || item_id, 'C' || (i % 10), 'S' || (i % 30), 'B' || (i % 20), unit_cost,
                   cast(unit_cost * 1.5 as decimal(18, 4)), 12, 12, 'V' || (i % 20), 7,
                   'bench', date '2021-12-31', 'bench', timestamp '2022-01-01', i + 2 from goods""")
        con.execute("""insert into raw.erp__locations (location_id, location_name, location_type, region, cluster,
            _file, _extract_date, _load_id, _loaded_at, _row_number)
            select location_id, 'store ' || location_id, 'store', 'R' || (s % 5), 'K' || (s % 3),
                   'bench', date '2021-12-31', 'bench', timestamp '2022-01-01', s + 2 from stores""")
        # a promotion for item i at store s in retail week w when (w + 5i + 3s) % 13 = 0
        weeks = (shape.days + 2) // 7 + 1
        con.execute(f"""create temp table promoted as
            select g.i, s.s, w.range as w from goods g, stores s, range({weeks}) w
            where (w.range + 5 * g.i + 3 * s.s) % 13 = 0""")
        con.execute(f"""insert into raw.erp__promotions (promotion_id, item_id, location_id, start_date, end_date,
            promo_price, mechanic, channel, approval_status, vendor_funding_per_unit, _file, _extract_date,
            _load_id, _loaded_at, _row_number)
            select 'P-' || g.item_id || '-' || st.location_id || '-' || p.w, g.item_id, st.location_id,
                   date '{START}' + cast(7 * p.w - 2 as integer), date '{START}' + cast(7 * p.w + 4 as integer),
                   cast(g.unit_cost * 1.2 as decimal(18, 4)), 'tpr', 'store', 'approved',
                   cast(case when p.w % 3 = 0 then 0.10 end as decimal(18, 4)),
                   'bench', date '2021-12-31', 'bench', timestamp '2022-01-01', 2
            from promoted p join goods g on g.i = p.i join stores st on st.s = p.s""")
        con.execute(f"""insert into raw.pos__sales (business_date, location_id, item_id, units, net_sales,
            discount_amount, period_days, _file, _extract_date, _load_id, _loaded_at, _row_number)
            select date '{START}' + cast(d.range as integer), st.location_id, g.item_id, u.units,
                   cast(u.units * g.unit_cost * case when p.w is null then 1.5 else 1.2 end as decimal(18, 4)),
                   cast(case when p.w is null then 0 else u.units * g.unit_cost * 0.3 end as decimal(18, 4)), 1,
                   'bench', date '{START}' + cast(d.range + 1 as integer), 'bench', timestamp '2022-01-01', 2
            from range({shape.days}) d cross join stores st cross join goods g
            cross join lateral (select cast(1 + hash(d.range, st.s, g.i) % 7 as double) as units) u
            left join promoted p on p.i = g.i and p.s = st.s and p.w = (d.range + 2) // 7""")
        con.execute(f"""insert into raw.inventory__snapshots (snapshot_date, location_id, item_id, on_hand_units,
            in_transit_units, on_order_units, _file, _extract_date, _load_id, _loaded_at, _row_number)
            select date '{START}' + cast(d.range as integer), st.location_id, g.item_id,
                   cast(hash(d.range, g.i, st.s) % 60 as double) - 5, 0, 0,
                   'bench', date '{START}' + cast(d.range + 1 as integer), 'bench', timestamp '2022-01-01', 2
            from range(4, {shape.days}, 7) d cross join stores st cross join goods g""")
        last_week = (shape.days - 1 + 2) // 7
        con.execute(f"""create table forecast.demand_weekly as
            select g.item_id, st.location_id, date '{START}' + cast(7 * w.range + 4 as integer) as week_end_date,
                   w.range <= {last_week} as is_history,
                   case when w.range <= {last_week} then 35.0 end::double as actual_units,
                   case when p.w is null then 35.0 else 45.5 end::double as predicted_units,
                   35.0::double as baseline_units,
                   case when p.w is null then 28.0 else 36.4 end::double as predicted_lower,
                   case when p.w is null then 42.0 else 54.6 end::double as predicted_upper,
                   'benchmark' as method, 'bench' as model_version
            from range({last_week + 9}) w cross join stores st cross join goods g
            left join promoted p on p.i = g.i and p.s = st.s and p.w = w.range""")
        con.execute("""create table forecast.replenishment_targets as
            select g.item_id, st.location_id, 50.0::double as forecast_protection_units,
                   10.0::double as safety_stock_units
            from stores st cross join goods g""")
        for table in ("promotion_uplift", "series_fit_log"):
            con.execute(f"create table forecast.{table} (item_id varchar, location_id varchar)")
    return time.perf_counter() - started


def add_day(path: Path, shape: Shape, threads: int) -> date:
    """One more day of sales (and its snapshot when it is a Wednesday), as a new extract."""
    day = START + timedelta(days=shape.days)
    with _connect(path, threads) as con:
        con.execute(f"""insert into raw.pos__sales (business_date, location_id, item_id, units, net_sales,
            discount_amount, period_days, _file, _extract_date, _load_id, _loaded_at, _row_number)
            select date '{day}', location_id, item_id, 3, cast(unit_cost * 4.5 as decimal(18, 4)), 0, 1,
                   'new-day', date '{day}' + 1, 'new-day', now()::timestamp, 2
            from raw.erp__items, raw.erp__locations""")
        if day.isoweekday() == 3:
            con.execute(f"""insert into raw.inventory__snapshots (snapshot_date, location_id, item_id, on_hand_units,
                in_transit_units, on_order_units, _file, _extract_date, _load_id, _loaded_at, _row_number)
                select date '{day}', location_id, item_id, 20, 0, 0, 'new-day', date '{day}' + 1, 'new-day',
                       now()::timestamp, 2
                from raw.erp__items, raw.erp__locations""")
    return day


def dbt(warehouse: Path, work: Path, *args: str) -> tuple[float, dict[str, object]]:
    """Run dbt on `warehouse`; return wall seconds and the execution seconds per node type (and,
    under "slowest", the ten slowest nodes' seconds)."""
    env = {**os.environ, "RETAILOPS_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = work / "target"
    started = time.perf_counter()
    subprocess.run(
        [str(DBT), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
         "--target-path", str(target), "--log-path", str(work / "logs"), "--quiet"],
        check=True, env=env,
    )  # fmt: skip
    wall = time.perf_counter() - started
    results = json.loads((target / "run_results.json").read_text())["results"]
    by_type: dict[str, object] = {}
    for result in results:
        kind = result["unique_id"].split(".")[0]
        by_type[kind] = by_type.get(kind, 0.0) + result["execution_time"]
    slowest = sorted(results, key=lambda r: r["execution_time"], reverse=True)[:10]
    by_type["slowest"] = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 2) for r in slowest}
    return wall, by_type


def hand(warehouse: Path, threads: int) -> float:
    sql = HAND_SQL.read_text()
    started = time.perf_counter()
    with _connect(warehouse, threads) as con:
        con.execute(sql)
    return time.perf_counter() - started


def compare(warehouse: Path) -> list[str]:
    """Differences between the dbt marts and the hand-written ones (empty: the same figures)."""
    checks = {
        "fct_sell_through": "count(*), sum(units_sold), sum(gross_margin), sum(sell_through_rate), "
        "sum(gmroi), sum(weeks_of_supply), sum(stock_to_sales), sum(trailing_in_stock_weeks)",
        "fct_stock_exposure": "count(*), sum(inventory_position_at_cost), sum(days_of_cover), "
        "count(*) filter (where stockout_risk), sum(excess_units)",
        "fct_promotion_profitability": "count(*), sum(actual_units), sum(baseline_units), "
        "sum(incremental_gross_margin), sum(discount_cost), sum(vendor_funding), sum(post_promotion_dip_units)",
        "fct_promotion_summary": "count(*), sum(measured_lines), sum(lift_pct), sum(roi), sum(vendor_funding)",
        "dim_calendar": "count(*), min(date_day), max(date_day)",
    }
    problems = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, aggregates in checks.items():
            dbt_row = con.execute(f"select {aggregates} from marts.{table}").fetchone()
            hand_row = con.execute(f"select {aggregates} from hand.{table}").fetchone()
            for index, (a, b) in enumerate(zip(dbt_row, hand_row, strict=True)):
                if a == b:
                    continue
                numeric = isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal)
                if not numeric or abs(float(a) - float(b)) > 1e-6 * max(1.0, abs(float(a))):
                    problems.append(f"{table} aggregate {index}: dbt {a} vs hand {b}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (emptied)")
    parser.add_argument("--pos-rows", type=int, default=50_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--incremental-stores", type=int, default=50)
    parser.add_argument("--incremental-items", type=int, default=200)
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-incremental", action="store_true")
    args = parser.parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    # the machine's 1, 5 and 15 minute load averages after each timed step (others may share it)
    load: dict[str, tuple[float, float, float]] = {}
    report: dict[str, object] = {"threads": args.threads, "load_average": load}

    if not args.skip_full:
        stores, items = 100, 500
        shape = Shape(stores, items, max(7, args.pos_rows // (stores * items)))
        warehouse = args.work / "full.duckdb"
        report["full_shape"] = {"stores": shape.stores, "items": shape.items, "days": shape.days,
                                "pos_rows": shape.pos_rows}  # fmt: skip
        report["generate_s"] = generate(warehouse, shape, args.threads)
        report["hand_s"] = hand(warehouse, args.threads)
        load["after hand-written"] = os.getloadavg()
        # cautious: only the tests whose every parent is built (not those of other staging models)
        selection = ["--select", *(f"+{m}" for m in MARTS), "--indirect-selection", "cautious"]
        report["dbt_build_s"], report["dbt_build_node_s"] = dbt(warehouse, args.work, "build", *selection)
        load["after dbt build"] = os.getloadavg()
        report["dbt_run_s"], report["dbt_run_node_s"] = dbt(warehouse, args.work, "run", *selection)
        load["after dbt run"] = os.getloadavg()
        report["differences"] = compare(warehouse)
        report["ratio_build"] = report["dbt_build_s"] / report["hand_s"]
        report["ratio_run"] = report["dbt_run_s"] / report["hand_s"]
        print(json.dumps(report, indent=2, default=str), flush=True)
        warehouse.unlink()

    if not args.skip_incremental:
        for years in (1, 3):
            shape = Shape(args.incremental_stores, args.incremental_items, 365 * years - 3)
            warehouse = args.work / f"history_{years}y.duckdb"
            generate(warehouse, shape, args.threads)
            full_s, _ = dbt(warehouse, args.work, *MODELS_AND_SNAPSHOT)
            day = add_day(warehouse, shape, args.threads)
            window = json.dumps({"min_date": day.isoformat(), "max_date": day.isoformat()})
            whole_s, whole_nodes = dbt(warehouse, args.work, *MODELS_AND_SNAPSHOT, "--vars", window)
            day2 = add_day(warehouse, Shape(shape.stores, shape.items, shape.days + 1), args.threads)
            window2 = json.dumps({"min_date": day2.isoformat(), "max_date": day2.isoformat()})
            incremental_s, incremental_nodes = dbt(
                warehouse, args.work, "run", "--select", *INCREMENTAL, "--vars", window2
            )
            report[f"incremental_{years}y"] = {
                "pos_rows": shape.pos_rows, "full_run_s": full_s, "one_day_all_models_s": whole_s,
                "one_day_all_models_node_s": whole_nodes, "one_day_incremental_models_s": incremental_s,
                "one_day_incremental_models_node_s": incremental_nodes,
            }  # fmt: skip
            load[f"after incremental {years}y"] = os.getloadavg()
            warehouse.unlink()
        one, three = report["incremental_1y"], report["incremental_3y"]
        report["ratio_3y_1y_all_models"] = three["one_day_all_models_s"] / one["one_day_all_models_s"]
        report["ratio_3y_1y_incremental_models"] = (
            three["one_day_incremental_models_s"] / one["one_day_incremental_models_s"]
        )
    print(json.dumps(report, indent=2, default=str))
    (args.work / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
