"""Incremental builds on date windows give the same rows as a full refresh.

The hand-made warehouse of test_dbt_build (weeks W1 … W5 ending on Wednesdays), plus a few goods
receipts of I1 × S1 for stock ageing, is first built without W5's sales and snapshots and the
receipts dated after W4. Then those arrive and W4's sales are restated, and the build
runs with var min_date / max_date around those days, as Dagster's daily partitions run it. The
result must equal `dbt run --full-refresh` on the same data, table by table: the incremental
staging tables (stg_pos__sales, stg_inventory__snapshots) as well as the marts.
"""

from __future__ import annotations

import gc
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.dbt.test_dbt_build import PROJECT_DIR, W, _create_forecast, _create_raw

pytestmark = pytest.mark.slow

INCREMENTAL = [
    "staging.stg_pos__sales",
    "staging.stg_inventory__snapshots",
    "intermediate.int_demand_weekly",
    "intermediate.int_inventory_weekly",
    "marts.fct_sell_through",
    "marts.fct_stock_exposure",
]
ALL_RELATIONS = INCREMENTAL + [
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

    for relation in ALL_RELATIONS:
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
    staged = (
        "select units from staging.stg_pos__sales where item_id = 'I1' and location_id = 'S1' "
        "and business_date = ?"
    )
    with duckdb.connect(str(incremental), read_only=True) as con:
        assert con.execute(query, [W[1]]).fetchone()[0] == 10  # as built the day before
        assert con.execute(query, [W[5]]).fetchone()[0] == 6  # the new week is in
        # staging too keeps W1 as staged the day before: the window's days are all it re-read
        assert con.execute(staged, [W[1]]).fetchone()[0] == 10
        assert con.execute(staged, [W[5]]).fetchone()[0] == 6
    with duckdb.connect(str(full), read_only=True) as con:
        assert con.execute(query, [W[1]]).fetchone()[0] == 99
        assert con.execute(staged, [W[1]]).fetchone()[0] == 99


def _resend_extract_without(warehouse: Path, extract_date: str, business_date: str) -> None:
    """The extract of `extract_date` is sent again (a new load), without its sale of I1 × S1 on
    `business_date`: as the loader restates, the extract's raw rows are replaced by the new file's."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update raw.pos__sales set _load_id = 'resent', _file = 'resent.csv', "
            "_loaded_at = _loaded_at + interval 40 day where _extract_date = ?",
            [extract_date],
        )
        con.execute(
            "delete from raw.pos__sales where _extract_date = ? and business_date = ? "
            "and location_id = 'S1' and trim(item_id) = 'I1'",
            [extract_date, business_date],
        )


def test_a_restated_extract_that_drops_a_row_equals_a_full_refresh(day_before: Path, tmp_path: Path) -> None:
    # W1's sale of I1 × S1 was sent twice: 9 units in the 2024-01-10 extract, 10 units in the
    # 2024-02-01 one (test_dbt_build.RAW). The 2024-02-01 extract is re-sent without it, so staging
    # must fall back to the 9 units of 2024-01-10 rather than keep the row it staged before. The
    # window is the business dates the re-sent extract holds: W1 … W4.
    incremental = tmp_path / "incremental.duckdb"
    shutil.copyfile(day_before, incremental)
    _resend_extract_without(incremental, "2024-02-01", W[1].isoformat())
    full = tmp_path / "full.duckdb"
    shutil.copyfile(incremental, full)
    window = {"min_date": W[1].isoformat(), "max_date": W[4].isoformat()}
    _dbt(incremental, tmp_path / "inc", "--vars", json.dumps(window))
    _dbt(full, tmp_path / "full", "--full-refresh")

    for relation in ALL_RELATIONS:
        assert _rows(incremental, relation) == _rows(full, relation), relation
    with duckdb.connect(str(incremental), read_only=True) as con:
        w1 = con.execute(
            "select units, extract_date, load_id from staging.stg_pos__sales "
            "where item_id = 'I1' and location_id = 'S1' and business_date = ?",
            [W[1]],
        ).fetchall()
        w2_load = con.execute(
            "select load_id from staging.stg_pos__sales where item_id = 'I1' and location_id = 'S1' "
            "and business_date = ?",
            [W[2]],
        ).fetchone()[0]
        w1_sold = con.execute(
            "select units_sold from marts.fct_sell_through where item_id = 'I1' and location_id = 'S1' "
            "and week_end_date = ?",
            [W[1]],
        ).fetchone()[0]
    assert w1 == [(9.0, date(2024, 1, 10), "load-2024-01-10")]
    assert w2_load == "resent" and w1_sold == 9


def test_staging_fills_dates_it_never_staged(day_before: Path, tmp_path: Path) -> None:
    # W5's extracts arrive but the window names W1 only: staging still stages W5's dates (they are
    # in raw and not in the table), so the marts that read staging in full see them
    incremental = tmp_path / "incremental.duckdb"
    shutil.copyfile(day_before, incremental)
    _arrive(incremental, "{column} > '" + W[4].isoformat() + "'")
    window = {"min_date": W[1].isoformat(), "max_date": W[1].isoformat()}
    _dbt(incremental, tmp_path / "inc", "--vars", json.dumps(window))
    with duckdb.connect(str(incremental), read_only=True) as con:
        sales = con.execute(
            "select item_id, units from staging.stg_pos__sales where business_date = ? order by item_id", [W[5]]
        ).fetchall()
        snapshots = con.execute(
            "select item_id, on_hand_units from staging.stg_inventory__snapshots where snapshot_date = ? "
            "order by item_id",
            [W[5]],
        ).fetchall()
        staged_rows = con.execute("select count(*) from staging.stg_pos__sales").fetchone()[0]
    # test_dbt_build.RAW: W5 sold 6 units of I1 at S1; its snapshots are I1 × S1 25 and 007 × S1 5
    assert sales == [("I1", 6.0)]
    assert snapshots == [("007", 5.0), ("I1", 25.0)]
    # 8 sale keys in RAW (W1 … W5 of I1 × S1, W3 and W4 of 007 × S1, W1 of 007 × S2), each once
    assert staged_rows == 8
