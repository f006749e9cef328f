"""Incremental builds on date windows give the same rows as a full refresh.

The hand-made warehouse of test_dbt_build (weeks W1 … W5 ending on Wednesdays), plus a few goods
receipts of I1 × S1 for stock ageing, is first built without W5's sales and snapshots and the
receipts dated after W4. Then those arrive and W4's sales are restated, and the build
runs with var min_date / max_date around those days, as Dagster's daily partitions run it. The
result must equal `dbt run --full-refresh` on the same data, table by table.
"""

from __future__ import annotations

import gc
import json
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from tests.dbt.test_dbt_build import PROJECT_DIR, W, _create_forecast, _create_raw

pytestmark = pytest.mark.slow

INCREMENTAL = [
    "intermediate.int_demand_weekly",
    "intermediate.int_inventory_weekly",
    "marts.fct_sell_through",
    "marts.fct_stock_exposure",
]
ALL_MARTS = INCREMENTAL + [
    "marts.fct_promotion_profitability",
    "marts.fct_promotion_summary",
    "marts.dim_calendar",
    "marts.dim_promotion",
]


def _dbt(warehouse: Path, tmp: Path, *args: str) -> None:
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    mp = pytest.MonkeyPatch()
    mp.setenv("RETAILOPS_WAREHOUSE", str(warehouse))
    mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        result = dbtRunner().invoke(
            [
                "run",
                "--project-dir", str(PROJECT_DIR),
                "--profiles-dir", str(PROJECT_DIR),
                "--target-path", str(tmp / "target"),
                "--log-path", str(tmp / "logs"),
                "--quiet",
                # the exceptions history is a snapshot (`dbt snapshot`/`build`), tested in test_exceptions
                "--exclude", "snp_exceptions+",
                *args,
            ]
        )  # fmt: skip
    finally:
        mp.undo()
        DuckDBConnectionManager.close_all_connections()
        gc.collect()
    assert result.success, f"dbt run {args} failed: {result.exception}"


def _rows(warehouse: Path, relation: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return sorted(con.execute(f"select * from {relation}").fetchall(), key=repr)


HELD_BACK = (
    ("pos__sales", "business_date"),
    ("inventory__snapshots", "snapshot_date"),
    ("inventory__receipts", "receipt_date"),
)
# (receipt id, date, units) of I1 × S1: R4, dated in W5, arrives with W5
RECEIPTS = [("R1", W[1], 30.0), ("R2", W[3], 20.0), ("R3", W[4] - timedelta(days=2), 10.0), ("R4", W[5], 15.0)]


def _arrive(warehouse: Path, where: str) -> None:
    """Move the held-back raw rows matching `where` into the raw tables (a new extract)."""
    with duckdb.connect(str(warehouse)) as con:
        for table, column in HELD_BACK:
            con.execute(f"insert into raw.{table} select * from held.{table} where {where.format(column=column)}")
            con.execute(f"delete from held.{table} where {where.format(column=column)}")


def _restate_sales(warehouse: Path, week: int, units: float) -> None:
    """A later extract re-sends week `week`'s sales of I1 × S1 with other units."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """insert into raw.pos__sales
               select * replace (? as units, _extract_date + 30 as _extract_date, 'restatement' as _load_id,
                                 _loaded_at + interval 30 day as _loaded_at)
               from raw.pos__sales
               where business_date = ? and location_id = 'S1' and trim(item_id) = 'I1'
               qualify row_number() over (order by _extract_date desc) = 1""",
            [units, W[week]],
        )


@pytest.fixture(scope="module")
def day_before(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse built in full on the data up to W4 (W5's rows held back in schema held)."""
    tmp = tmp_path_factory.mktemp("incremental")
    warehouse = tmp / "retail.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        _create_raw(con)
        _create_forecast(con)
        for receipt_id, day, units in RECEIPTS:
            con.execute(
                "insert into raw.inventory__receipts (receipt_id, receipt_date, location_id, item_id, units, "
                "_file, _extract_date, _load_id, _loaded_at, _row_number) values (?, ?, 'S1', 'I1', ?, 'r.csv', ?, "
                "'receipts', ?, 2)",
                [receipt_id, day, units, day, day],
            )
        con.execute("create schema held")
        for table, column in HELD_BACK:
            con.execute(f"create table held.{table} as select * from raw.{table} where {column} > ?", [W[4]])
            con.execute(f"delete from raw.{table} where {column} > ?", [W[4]])
    _dbt(warehouse, tmp)
    return warehouse


def test_an_incremental_day_equals_a_full_refresh(day_before: Path, tmp_path: Path) -> None:
    incremental = tmp_path / "incremental.duckdb"
    shutil.copyfile(day_before, incremental)
    # W5's extracts arrive and W4's sales of I1 × S1 are restated (8 → 9 units)
    _arrive(incremental, "{column} > '" + W[4].isoformat() + "'")
    _restate_sales(incremental, 4, 9.0)
    full = tmp_path / "full.duckdb"
    shutil.copyfile(incremental, full)

    window = {"min_date": (W[4] - timedelta(days=6)).isoformat(), "max_date": W[5].isoformat()}
    _dbt(incremental, tmp_path / "inc", "--vars", json.dumps(window))
    _dbt(full, tmp_path / "full", "--full-refresh")

    for relation in ALL_MARTS:
        assert _rows(incremental, relation) == _rows(full, relation), relation
    # the new day really is there, and the previous latest date was rebased on trailing actuals
    with duckdb.connect(str(incremental), read_only=True) as con:
        latest = con.execute(
            "select distinct snapshot_date from marts.fct_stock_exposure where is_latest_snapshot_date"
        ).fetchall()
        w4_basis = con.execute(
            "select distinct cover_demand_basis from marts.fct_stock_exposure where snapshot_date = ?", [W[4]]
        ).fetchall()
        w4_units = con.execute(
            "select units_sold from marts.fct_sell_through where item_id = 'I1' and location_id = 'S1' "
            "and week_end_date = ?",
            [W[4]],
        ).fetchone()[0]
        # W5: 25 on hand = R4's 15 (0 days) + R3's 10 (6 days): all 0–30 days old (by FIFO)
        w5_age = con.execute(
            "select age_0_30_units, age_31_60_units, age_unknown_units from marts.fct_stock_exposure "
            "where item_id = 'I1' and location_id = 'S1' and snapshot_date = ?",
            [W[5]],
        ).fetchone()
    assert latest == [(W[5],)] and w4_basis == [("trailing_actuals",)] and w4_units == 9
    assert w5_age == (25, 0, 0)


def test_a_window_rebuilds_only_its_days(day_before: Path, tmp_path: Path) -> None:
    # W1's sales are restated but the window names only W5: the incremental build leaves W1 as
    # it was (proof that it did not recompute everything); a full refresh picks the change up
    incremental = tmp_path / "incremental.duckdb"
    shutil.copyfile(day_before, incremental)
    _arrive(incremental, "{column} > '" + W[4].isoformat() + "'")
    _restate_sales(incremental, 1, 99.0)
    full = tmp_path / "full.duckdb"
    shutil.copyfile(incremental, full)
    window = {"min_date": W[5].isoformat(), "max_date": W[5].isoformat()}
    _dbt(incremental, tmp_path / "inc", "--vars", json.dumps(window))
    _dbt(full, tmp_path / "full", "--full-refresh")

    query = (
        "select units_sold from marts.fct_sell_through where item_id = 'I1' and location_id = 'S1' "
        "and week_end_date = ?"
    )
    with duckdb.connect(str(incremental), read_only=True) as con:
        assert con.execute(query, [W[1]]).fetchone()[0] == 10  # as built the day before
        assert con.execute(query, [W[5]]).fetchone()[0] == 6  # the new week is in
    with duckdb.connect(str(full), read_only=True) as con:
        assert con.execute(query, [W[1]]).fetchone()[0] == 99
