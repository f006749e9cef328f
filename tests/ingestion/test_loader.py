"""The loader: typed raw rows with load metadata, line numbers, the registry, conservation, re-runs."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import duckdb
import pytest

from ingestion.contract import ENTITIES, ITEMS, SALES
from ingestion.loader import (
    LandingError,
    conservation_report,
    ensure_warehouse_schema,
    load_entity,
    scan_landing,
    validate_landing,
)

from .conftest import ITEMS_CSV, LOCATIONS_CSV, SALES_HEADER, load, table_rows, write


def test_loads_typed_rows_with_line_numbers_and_keeps_leading_zeros(landing: Path, con) -> None:
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv",
          SALES_HEADER + "2024-01-03, S1 ,001,3,7.50,1.50,7\n2024-01-03,S1,002,-1,-2.5,0,7\n")
    result = load(con, landing, "pos/sales", load_id="load-1")
    assert (result.files_loaded, result.rows_loaded, result.rows_quarantined) == (1, 2, 0)
    rows = con.execute(
        "select location_id, item_id, units, net_sales, _row_number, _extract_date, _file, _load_id "
        "from raw.pos__sales where _load_id = 'load-1' order by _row_number"
    ).fetchall()
    # Ids are trimmed but never lose leading zeros; net returns stay as negative units.
    assert rows[0][:5] == ("S1", "001", 3.0, pytest.approx(7.5), 2)
    assert rows[1][2] == -1.0 and rows[1][4] == 3
    assert str(rows[0][5]) == "2024-01-04"
    assert rows[0][6] == "pos/sales/2024-01-04/sales.csv" and rows[0][7] == "load-1"
    registry = con.execute(
        "select entity, outcome, rows_in_file, rows_loaded, rows_quarantined, size_bytes, length(sha256) "
        "from ops.file_registry where load_id = 'load-1'"
    ).fetchall()
    size = (landing / "pos" / "sales" / "2024-01-04" / "sales.csv").stat().st_size
    assert registry == [("pos/sales", "loaded", 2, 2, 0, size, 64)]


def test_missing_required_column_rejects_the_file_and_keeps_what_was_loaded(landing: Path, con) -> None:
    before = table_rows(con, "raw.pos__sales")
    bad = write(landing / "pos" / "sales" / "2024-01-11" / "sales.csv",
                "business_date,location_id,item_id,net_sales,discount_amount\n2024-01-10,S1,001,7.5,0\n")
    good = write(landing / "pos" / "sales" / "2024-01-12" / "sales.csv", SALES_HEADER + "2024-01-11,S1,001,1,2.5,0,1\n")
    result = load(con, landing, "pos/sales", load_id="load-2")
    outcomes = {o.file: (o.outcome, o.reason) for o in result.outcomes}
    assert outcomes["pos/sales/2024-01-11/sales.csv"][0] == "rejected"
    assert "required column 'units' of pos/sales is missing" in outcomes["pos/sales/2024-01-11/sales.csv"][1]
    assert outcomes["pos/sales/2024-01-12/sales.csv"] == ("loaded", None)  # the other file still loads
    assert table_rows(con, "raw.pos__sales", "_load_id <> 'load-2'") == before
    assert bad.exists() and good.exists()


def test_unparseable_value_is_quarantined_with_line_and_column(landing: Path, con) -> None:
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv",
          SALES_HEADER + "2024-01-03,S1,001,3,7.5,0,7\n2024-01-03,S1,002,three,7.5,0,7\n")
    load(con, landing, "pos/sales")
    assert con.execute("select file, line_number, column_name, reason from ops.quarantine").fetchall() == [
        ("pos/sales/2024-01-04/sales.csv", 3, "units", "got 'three', expected a number")
    ]


def test_value_outside_allowed_list_is_quarantined(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write(landing / "erp" / "locations" / "2024-01-04" / "locations.csv",
          "location_id,location_name,location_type,region,cluster\n1,North,store,KY,A\n2,South,warehouse,KY,A\n")
    con = duckdb.connect()
    load(con, landing, "erp/locations")
    assert con.execute("select line_number, column_name, reason from ops.quarantine").fetchall() == [
        (3, "location_type", "got 'warehouse', expected one of store, dc, ecom")
    ]
    assert con.execute("select location_id from raw.erp__locations").fetchall() == [("1",)]


def test_entity_without_files_loads_nothing_and_keeps_an_empty_table(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    con = duckdb.connect()
    result = load_entity(con, landing, ITEMS, "load-1")
    assert result.outcomes == []
    assert con.execute("select count(*) from raw.erp__items").fetchall() == [(0,)]
    columns = [r[0] for r in con.execute("describe raw.erp__items").fetchall()]
    assert columns == [*ITEMS.column_names, "_file", "_extract_date", "_load_id", "_loaded_at", "_row_number"]


def test_validate_landing_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(LandingError, match=r"nowhere: landing folder does not exist"):
        validate_landing(tmp_path / "nowhere")
    landing = tmp_path / "landing"
    write(landing / "erp" / "items" / "2024-01-01" / "items.csv", ITEMS_CSV)
    with pytest.raises(LandingError, match=r"landing folder for erp/locations is missing"):
        validate_landing(landing)
    (landing / "erp" / "locations").mkdir(parents=True)
    with pytest.raises(LandingError, match=r"no extract files for erp/locations"):
        validate_landing(landing)


def test_scan_lists_extract_dates_misplaced_and_in_progress_files(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write(landing / "erp" / "items" / "2024-01-01" / "items.csv", ITEMS_CSV)
    write(landing / "pos" / "sales" / "2024-01-05" / "a.csv", SALES_HEADER)
    write(landing / "pos" / "sales" / "2024-01-03" / ".b.csv", SALES_HEADER)
    write(landing / "pos" / "sales" / "2024-1-3" / "c.csv", SALES_HEADER)
    write(landing / "provenance.json", "{}")
    scan = scan_landing(landing)
    assert scan.extract_dates == ["2024-01-01", "2024-01-05"]
    assert [f.relative_path for f in scan.misplaced] == ["pos/sales/2024-1-3/c.csv"]
    assert scan.in_progress == ["pos/sales/2024-01-03/.b.csv"]
    assert [f.relative_path for f in scan.for_entity(SALES, {"2024-01-05"})] == ["pos/sales/2024-01-05/a.csv"]


def _snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    tables = [f"raw.{e.name}" for e in ENTITIES] + ["ops.file_registry", "ops.quarantine"]
    return {t: table_rows(con, t) for t in tables}


def test_loading_again_changes_nothing(landing: Path, con) -> None:
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv",
          SALES_HEADER + "2024-01-03,S1,001,3,7.5,0,7\n2024-01-03,S1,002,x,7.5,0,7\n")
    load(con, landing, "pos/sales", load_id="first")
    before = _snapshot(con)
    for entity_path in ("erp/items", "erp/locations", "pos/sales"):
        assert load(con, landing, entity_path, load_id="again").outcomes == []
    assert _snapshot(con) == before


def test_conservation_report_holds_and_catches_a_lost_row(landing: Path, con) -> None:
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv",
          SALES_HEADER + "2024-01-03,S1,001,3,7.5,0,7\n2024-01-03,S1,002,x,7.5,0,7\n2024-01-03,S2,002,1,2,0,7\n")
    load(con, landing, "pos/sales")
    report = conservation_report(con, SALES)
    assert report.holds, report.violations
    assert (report.files_checked, report.rows_in_files, report.rows_loaded, report.rows_quarantined) == (2, 5, 4, 1)
    con.execute("delete from raw.pos__sales where item_id = '002' and _extract_date = '2024-01-04'")
    report = conservation_report(con, SALES)
    assert report.violations == [
        "pos/sales/2024-01-04/sales.csv (loaded): 1 rows in raw.pos__sales, expected 2"
    ]
    con.execute("delete from ops.quarantine")
    assert "pos/sales/2024-01-04/sales.csv: 0 rows in ops.quarantine, registry says 1" in \
        conservation_report(con, SALES).violations


def test_warehouse_from_the_v1_loader_is_rebuilt(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create schema ops; create schema raw")
    con.execute("create table ops.file_registry (load_id varchar, entity varchar, file varchar, extract_date date, "
                "size_bytes bigint, sha256 varchar, rows bigint, loaded_at timestamp)")
    con.execute("create table raw.erp__items (item_id varchar)")
    ensure_warehouse_schema(con)
    assert "file_id" in [r[0] for r in con.execute("describe ops.file_registry").fetchall()]
    assert [r[0] for r in con.execute("describe raw.erp__items").fetchall()][:2] == ["item_id", "item_name"]


def _sales_rows(n: int) -> list[list[str]]:
    """Unique keys: 8 rows a day (2 stores × 4 items), `units` = the row's index."""
    from datetime import date, timedelta

    first = date(2000, 1, 1)
    items = ["001", "002", "003", "W1"]
    return [[(first + timedelta(days=i // 8)).isoformat(), ("S1", "S2")[(i // 4) % 2], items[i % 4], str(i),
             "1.00", "0.00", "1"] for i in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("blank_lines", [False, True], ids=["every-line-a-record", "with-blank-lines"])
def test_line_numbers_on_a_large_file_with_rejected_lines(landing: Path, con, blank_lines: bool) -> None:
    """~20 MB, read by DuckDB in parallel: each row's line is known independently (its `units` is its index).

    Blank lines (not rows) in a file without quotes shift every later line: the loader sees fewer
    records than lines and counts them with the csv module instead of assuming one record a line.
    """
    rows = _sales_rows(400_000)
    lines = [SALES_HEADER.rstrip("\n")]
    expected: dict[int, int] = {}  # units (the row's index) -> line
    bad_lines = []
    for index, row in enumerate(rows):
        if index % 50_000 == 7:
            lines.append("TOTAL," + str(index))  # a record with too few fields
            bad_lines.append(len(lines))
        if blank_lines and index % 30_000 == 11:
            lines.append("")
        lines.append(",".join(row))
        expected[index] = len(lines)
    write(landing / "pos" / "sales" / "2024-02-01" / "big.csv", "\n".join(lines) + "\n")
    # More threads than cores: the reader's chunks finish out of order, and each row must still
    # get its own line (the ordinal is the row's position in the typed table, not a window).
    con.execute("set threads = 4")
    result = load(con, landing, "pos/sales")
    assert result.outcomes[0].rows_quarantined == len(bad_lines) == 8
    got = dict(con.execute(
        "select cast(units as bigint), _row_number from raw.pos__sales where _file like '%big.csv'").fetchall())
    assert got == expected
    quarantined = [r[0] for r in con.execute(
        "select line_number from ops.quarantine where column_name is null order by 1").fetchall()]
    assert quarantined == bad_lines


@pytest.mark.slow
def test_line_numbers_with_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    """Item names spanning lines, blank lines and bad records: lines counted by Python's csv module."""
    rng = random.Random(2)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["item_id", "item_name", "category", "subcategory", "brand", "unit_cost", "regular_price",
                     "pack_size", "moq", "supplier_id", "lead_time_days"])
    for index in range(60_000):
        name = f"item {index}" + ("\nsecond line" * rng.choice([0, 0, 0, 1, 2]))
        cost = "x" if index % 9_999 == 5 else "1.00"
        writer.writerow([f"{index:06d}", name, "C", "S", "B", cost, "2.00", "6", "6", "V", "7"])
        if index % 7_000 == 3:
            buffer.write("\n")
        if index % 11_000 == 4:
            buffer.write("short,record\n")
    text = buffer.getvalue()
    landing = tmp_path / "landing"
    write(landing / "erp" / "items" / "2024-01-01" / "items.csv", text)
    # Independently: the physical line each record starts on, from the text itself.
    expected: dict[str, int] = {}
    line = 1
    for record in csv.reader(io.StringIO(text)):
        if record and record[0].isdigit():
            expected[record[0]] = line
        line += sum(field.count("\n") for field in record) + 1
    con = duckdb.connect(config={"threads": 4})
    result = load_entity(con, landing, ITEMS, "load-1")
    outcome = result.outcomes[0]
    assert outcome.rows_in_file == 60_000 + 6  # 6 short records; blank lines are not rows
    got = dict(con.execute(
        "select item_id, _row_number from raw.erp__items union all "
        "select json_extract_string(raw_record, '$.item_id'), line_number from ops.quarantine "
        "where column_name = 'unit_cost'"
    ).fetchall())
    assert got == expected
    spanning = con.execute("select count(*) from raw.erp__items where item_name like '%\nsecond line%'").fetchall()
    assert spanning[0][0] > 0
    assert outcome.rows_quarantined == 6 + 7  # short records + bad costs (indices 5, 10004, ... 59999 - 5)


def test_master_data_fixture_loads_cleanly(con) -> None:
    assert con.execute("select count(*) from raw.erp__items").fetchall() == [(4,)]
    assert con.execute("select count(*) from raw.erp__locations").fetchall() == [(2,)]
    assert con.execute("select item_id, sold_by_weight from raw.erp__items order by 1").fetchall() == [
        ("001", None), ("002", False), ("003", None), ("W1", True)
    ]
    assert LOCATIONS_CSV.count("\n") == 3


def test_colliding_key_hashes_never_make_distinct_keys_duplicates(landing: Path, con, monkeypatch) -> None:
    """Every key hashes alike (a constant): only the rows whose keys are really equal are quarantined."""
    import ingestion.loader as loader

    monkeypatch.setattr(loader, "KEY_HASH_SQL", "(0 * length(concat_ws('|', {})))")
    text = SALES_HEADER + (
        "2024-01-03,S1,001,3,7.50,0.00,1\n"   # line 2: distinct
        "2024-01-03,S1,002,4,8.00,0.00,1\n"   # line 3: duplicate of line 5
        "2024-01-03,S2,001,5,9.00,0.00,1\n"   # line 4: distinct
        "2024-01-03,S1,002,6,9.50,0.00,1\n"   # line 5: duplicate of line 3
        "2024-01-04,S1,002,7,9.90,0.00,1\n"   # line 6: same store and item, other date: distinct
    )
    write(landing / "pos" / "sales" / "2024-01-05" / "collide.csv", text)
    result = load(con, landing, "pos/sales")
    outcome = [o for o in result.outcomes if o.file.endswith("collide.csv")][0]
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (3, 2)
    assert [r[0] for r in con.execute(
        "select line_number from ops.quarantine where file like '%collide.csv' order by 1").fetchall()] == [3, 5]
    loaded = con.execute("select cast(units as int) from raw.pos__sales where _file like '%collide.csv'").fetchall()
    assert sorted(loaded) == [(3,), (5,), (7,)]


def test_every_entity_types_its_rows_in_an_order_keeping_pass(tmp_path: Path) -> None:
    """A CSV's row ordinal is its position in the typed table: only right when DuckDB's plan keeps the
    file's order (its "batch" insert). A join (an IN list of five constants, an IN subquery) breaks it."""
    import ingestion.loader as loader

    con = duckdb.connect(config={"threads": 2})  # on one thread DuckDB never plans the batch insert
    ensure_warehouse_schema(con)
    for entity in ENTITIES:
        path = write(tmp_path / f"{entity.name}.csv", ",".join(entity.column_names) + "\n")
        source = loader._read_csv(con, path, entity)
        with loader._master_id_types(con, entity, source.id_types):
            plan = " ".join(str(v) for row in con.execute(
                "explain " + loader._typed_table_sql(entity, source), source.params).fetchall() for v in row)
        assert "Batch Create Table As" in plan, entity.path
        assert "Join" not in plan, entity.path


def _items_text(count: int) -> tuple[str, dict[str, int], list[int]]:
    """An item master of `count` rows with a sold_by_weight column: each item's line, counted as written,
    and the lines of the short records (a trailer-like `TOTAL,<n>` every 50,000 rows)."""
    lines = ["item_id,item_name,category,subcategory,brand,unit_cost,regular_price,pack_size,moq,supplier_id,"
             "lead_time_days,sold_by_weight"]
    expected: dict[str, int] = {}
    short_records: list[int] = []
    for index in range(count):
        if index % 50_000 == 7:
            lines.append(f"TOTAL,{index}")
            short_records.append(len(lines))
        lines.append(f"X{index:07d},n,C,S,B,1.00,2.00,6,6,V,7,{('true', 'no', '')[index % 3]}")
        expected[f"X{index:07d}"] = len(lines)
    return "\n".join(lines) + "\n", expected, short_records


@pytest.mark.slow
@pytest.mark.parametrize("threads", [2, 4])
def test_line_numbers_on_a_large_item_master(tmp_path: Path, threads: int) -> None:
    """~16 MB of items, read by DuckDB in parallel: the boolean column's parsing (an IN list of five
    words) once became a join that reordered the rows, and every line was wrong with no error."""
    text, expected, short_records = _items_text(400_000)
    landing = tmp_path / "landing"
    write(landing / "erp" / "items" / "2024-01-01" / "items.csv", text)
    con = duckdb.connect(config={"threads": threads})
    outcome = load_entity(con, landing, ITEMS, "load-1").outcomes[0]
    assert (outcome.outcome, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 400_000, 8)
    assert dict(con.execute("select item_id, _row_number from raw.erp__items").fetchall()) == expected
    assert [r[0] for r in con.execute("select line_number from ops.quarantine order by 1").fetchall()] == \
        short_records
    weights = con.execute("select sold_by_weight, count(*) from raw.erp__items group by 1 order by 1").fetchall()
    assert weights == [(False, 133_333), (True, 133_334), (None, 133_333)]


def test_a_typing_pass_that_would_lose_the_order_falls_back_to_numbering_rows(landing: Path, con, monkeypatch,
                                                                               caplog) -> None:
    """If the typing statement ever holds a join again, the loader numbers the rows with a window."""
    import ingestion.loader as loader

    typed_table_sql = loader._typed_table_sql

    def with_a_join(entity, source):  # the same statement with a subquery DuckDB plans as a join
        return typed_table_sql(entity, source).replace(
            " as _key_hash ", " as _key_hash, 1 in (select 1 from range(10)) as _join ", 1)

    monkeypatch.setattr(loader, "_typed_table_sql", with_a_join)
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv",
          SALES_HEADER + "2024-01-03,S1,001,3,7.5,0,1\n2024-01-03,S1,002,x,7.5,0,1\n2024-01-03,S2,002,1,2,0,1\n")
    with caplog.at_level("WARNING", logger="ingestion.loader"):
        result = load(con, landing, "pos/sales", load_id="join")
    assert "would not keep the file's row order" in caplog.text
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert con.execute("select item_id, location_id, _row_number from raw.pos__sales where _load_id = 'join' "
                       "order by 3").fetchall() == [("001", "S1", 2), ("002", "S2", 4)]
    assert con.execute("select line_number from ops.quarantine").fetchall() == [(3,)]


def test_a_failing_insert_into_raw_reports_its_own_error_and_restores_the_setting(landing: Path, con) -> None:
    """A database error inside the restating transaction: nothing changes, the caller's
    preserve_insertion_order comes back, and the error raised is the real one."""
    before = table_rows(con, "raw.pos__sales")
    con.execute("alter table raw.pos__sales rename to pos__sales_kept")
    con.execute("create table raw.pos__sales as select * from raw.pos__sales_kept")
    con.execute("alter table raw.pos__sales alter column units set not null")  # a constraint the file breaks
    con.execute("set preserve_insertion_order = false")
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv",
          SALES_HEADER + "2024-01-03,S1,001,3,7.5,0,1\n")
    import ingestion.loader as loader
    typed_table_sql = loader._typed_table_sql
    # units made NULL after the checks: only the insert into raw can fail on it
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loader, "_typed_table_sql", lambda entity, source: typed_table_sql(entity, source)
                      .replace('val_3 as "units"', 'cast(null as double) as "units"', 1))
        with pytest.raises(duckdb.ConstraintException):
            load(con, landing, "pos/sales", load_id="fails")
    assert con.execute("select current_setting('preserve_insertion_order')").fetchall() == [(False,)]
    assert table_rows(con, "raw.pos__sales") == before
    assert con.execute("select count(*) from ops.file_registry where load_id = 'fails'").fetchall() == [(0,)]


def test_a_field_over_the_csv_module_limit_beside_a_blank_line(landing: Path, con) -> None:
    """A blank line sends the file to the csv module's count, whose default field limit is 128 KiB."""
    long_line = "2024-01-03,S1,003,9,1.00,0.00," + "1" * (3 << 20)
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv",
          SALES_HEADER + "2024-01-03,S1,001,3,7.5,0,1\n\n" + long_line + "\n2024-01-03,S2,002,1,2,0,1\n")
    outcome = load(con, landing, "pos/sales", load_id="long").outcomes[0]
    assert (outcome.outcome, outcome.rows_in_file, outcome.rows_loaded, outcome.rows_quarantined) == \
        ("loaded", 3, 2, 1)
    assert con.execute("select item_id, _row_number from raw.pos__sales where _load_id = 'long' "
                       "order by 2").fetchall() == [("001", 2), ("002", 5)]
    assert con.execute("select line_number from ops.quarantine where load_id = 'long'").fetchall() == [(4,)]


def test_a_header_field_over_the_csv_module_limit_is_only_an_extra_column(landing: Path, con) -> None:
    header = SALES_HEADER.rstrip("\n") + "," + "n" * (200 << 10) + "\n"
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv", header + "2024-01-03,S1,001,3,7.5,0,1,x\n")
    outcome = load(con, landing, "pos/sales", load_id="wide").outcomes[0]
    assert (outcome.outcome, outcome.rows_loaded) == ("loaded", 1)
    assert "ignored columns not in the contract" in outcome.warnings[0]


def test_one_thread_numbers_rows_with_the_window_and_gets_the_same_lines(landing: Path, con, caplog) -> None:
    """DuckDB plans no order-keeping batch insert on one thread: the fallback is expected, not a warning."""
    con.execute("set threads = 1")
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv",
          SALES_HEADER + "2024-01-03,S1,001,3,7.5,0,1\n\n2024-01-03,S1,002,x,7.5,0,1\nshort\n"
          "2024-01-03,S2,002,1,2,0,1\n")
    with caplog.at_level("INFO", logger="ingestion.loader"):
        load(con, landing, "pos/sales", load_id="one-thread")
    assert [r.levelname for r in caplog.records if "row order" in r.message] == ["INFO"]
    assert con.execute("select item_id, _row_number from raw.pos__sales where _load_id = 'one-thread' "
                       "order by 2").fetchall() == [("001", 2), ("002", 6)]
    assert con.execute("select line_number from ops.quarantine where load_id = 'one-thread' "
                       "order by 1").fetchall() == [(4,), (5,)]


def test_a_failed_commit_raises_its_own_error(landing: Path, con) -> None:
    """DuckDB ends the transaction when a commit fails (an I/O error, a conflict): the rollback after it
    fails too, and must not hide the commit's error."""
    class FailingCommit:
        def __init__(self, connection):
            self.connection = connection

        def execute(self, sql, *args):
            if sql == "commit":
                self.connection.execute("rollback")
                raise duckdb.TransactionException("Failed to commit: disk full (simulated)")
            return self.connection.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.connection, name)

    before = table_rows(con, "raw.pos__sales")
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv", SALES_HEADER + "2024-01-03,S1,001,3,7.5,0,1\n")
    with pytest.raises(duckdb.TransactionException, match="disk full"):
        load_entity(FailingCommit(con), landing, SALES, "fails")
    assert table_rows(con, "raw.pos__sales") == before
    assert con.execute("select count(*) from ops.file_registry where load_id = 'fails'").fetchall() == [(0,)]
    assert con.execute("select current_setting('preserve_insertion_order')").fetchall() == [(True,)]


def test_booleans_skip_surrounding_blanks_like_numbers_do(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write(landing / "erp" / "items" / "2024-01-01" / "items.csv", ITEMS_CSV.splitlines()[0] + "\n"
          "001,Granola,CEREAL,GRANOLA,B1, 1.00 ,2.50,6,6,V1,7, Yes \n"
          "002,Oats,CEREAL,OATS,B1,1.00,2.00,6,6,V1,7,\tfalse\n"
          "003,Muesli,CEREAL,MUESLI,B1,1.00,2.00,6,6,V1,7,  \n")
    con = duckdb.connect()
    load_entity(con, landing, ITEMS, "load-1")
    assert con.execute("select item_id, unit_cost, sold_by_weight from raw.erp__items order by 1").fetchall() == [
        ("001", pytest.approx(1.0), True), ("002", pytest.approx(1.0), False)]
    assert con.execute("select line_number, column_name, reason from ops.quarantine").fetchall() == [
        (4, "sold_by_weight", "got '  ', expected true or false")]
