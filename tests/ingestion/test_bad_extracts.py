"""The bad-extract corpus (tests/ingestion/bad_extracts/): each file's expected outcome, stated by hand.

Every case loads one corpus file into a warehouse that already holds master data and an earlier
POS extract (tests/ingestion/conftest.py), then checks: the registry outcome and reason; the
rows loaded (by line number, header = line 1, and values); the rows quarantined (line, column,
reason); that rows in file = loaded + quarantined; and that nothing else changed.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest

from ingestion.contract import ENTITIES_BY_PATH
from ingestion.loader import record_misplaced_files, scan_landing

from .conftest import BAD_EXTRACTS, EARLIER_SALES, load, place, table_rows, write


@dataclass(frozen=True)
class Case:
    file: str
    entity: str
    outcome: str  # loaded | rejected
    reason: str | None = None  # a phrase the registry's reason must contain (rejected files)
    rows_in_file: int | None = None
    # (line, value of `column`) for each loaded row, in line order
    loaded: list[tuple] = field(default_factory=list)
    column: str = "item_id"
    # (line, column or None for a record that could not be split, phrase of the reason)
    quarantined: list[tuple] = field(default_factory=list)
    warning: str | None = None


D = date(2024, 1, 4)
CASES = [
    Case("header_only.csv", "pos/sales", "loaded", rows_in_file=0),
    Case("empty.csv", "pos/sales", "rejected", "empty file (0 bytes)"),
    # The last line stops after 3 of 7 fields: that record is quarantined, the two before load.
    Case("truncated_last_line.csv", "pos/sales", "loaded", rows_in_file=3, loaded=[(2, "001"), (3, "002")],
         quarantined=[(4, None, "expected 7 fields as in the header, found 3")]),
    Case("wrong_delimiter.csv", "pos/sales", "rejected", "seems to use ';' as delimiter"),
    Case("byte_order_mark.csv", "pos/sales", "loaded", rows_in_file=2, loaded=[(2, "001"), (3, "002")]),
    # "7,50" quoted is one field that is not a decimal; 3,20 unquoted splits into an 8th field.
    Case("decimal_commas.csv", "pos/sales", "loaded", rows_in_file=3, loaded=[(4, "001")],
         quarantined=[(2, "net_sales", "got '7,50', expected a decimal amount with '.' as decimal point"),
                      (3, None, "expected 7 fields as in the header, found 8")]),
    # ISO dates load, a timestamp keeps the date as written; day/month order and compact dates do not.
    Case("mixed_date_formats.csv", "pos/sales", "loaded", rows_in_file=4,
         loaded=[(2, D), (4, D)], column="business_date",
         quarantined=[(3, "business_date", "got '04/01/2024', expected a date (YYYY-MM-DD)"),
                      (5, "business_date", "got '20240104', expected a date")]),
    Case("latin1.csv", "pos/sales", "rejected", "not UTF-8 text (line 3"),
    # Both rows of the repeated key go: nothing says which one is right.
    Case("duplicate_keys.csv", "pos/sales", "loaded", rows_in_file=4, loaded=[(3, "002"), (5, "001")],
         quarantined=[(2, "business_date", "duplicate key (business_date, location_id, item_id) = "
                                           "(2024-01-04, S1, 001) within the extract, on lines 2, 4"),
                      (4, "business_date", "on lines 2, 4")]),
    # Net returns (negative units) and absurd quantities load: the expectations flag them.
    Case("absurd_and_negative_units.csv", "pos/sales", "loaded", rows_in_file=3,
         loaded=[(2, -2.0), (3, 1_000_000.0), (4, 3.0)], column="units"),
    # Negative on-hand loads (a bookkeeping lag); negative in-transit or on-order units do not.
    Case("negative_quantities.csv", "inventory/snapshots", "loaded", rows_in_file=4,
         loaded=[(2, -3.0), (5, 0.0)], column="on_hand_units",
         quarantined=[(3, "in_transit_units", "got '-2', below the minimum 0"),
                      (4, "on_order_units", "got '-1', below the minimum 0")]),
    # ' 001 ' is 001 after trimming; '1' is not 001 (leading zeros matter).
    Case("unknown_ids.csv", "pos/sales", "loaded", rows_in_file=4, loaded=[(2, "001")],
         quarantined=[(3, "item_id", "unknown item_id 'X9': not in erp/items"),
                      (4, "location_id", "unknown location_id 'S9': not in erp/locations"),
                      (5, "item_id", "unknown item_id '1'")]),
    Case("missing_required_column.csv", "pos/sales", "rejected", "required column 'units' of pos/sales is missing"),
    Case("extra_unknown_column.csv", "pos/sales", "loaded", rows_in_file=2, loaded=[(2, "001"), (3, "002")],
         warning="ignored columns not in the contract: 'store_manager'"),
    Case("renamed_by_case_and_spaces.csv", "pos/sales", "loaded", rows_in_file=2, loaded=[(2, "001"), (3, "002")],
         warning="'Business Date' as 'business_date', ' Location_ID ' as 'location_id', 'ITEM-ID' as 'item_id'"),
    Case("renamed_beyond_recognition.csv", "pos/sales", "rejected", "required column 'item_id'"),
    # Blank lines are not rows but count as lines.
    Case("blank_lines.csv", "pos/sales", "loaded", rows_in_file=3, loaded=[(2, "001"), (4, "002")],
         quarantined=[(7, "units", "got 'x', expected a number")]),
    Case("repeated_header.csv", "pos/sales", "loaded", rows_in_file=3, loaded=[(2, "001"), (4, "002")],
         quarantined=[(3, "business_date", "got 'business_date', expected a date")]),
    Case("trailer_total.csv", "pos/sales", "loaded", rows_in_file=3, loaded=[(2, "001"), (3, "002")],
         quarantined=[(4, None, "expected 7 fields as in the header, found 2")]),
    Case("crlf_line_endings.csv", "pos/sales", "loaded", rows_in_file=3, loaded=[(2, "001"), (4, "002")],
         quarantined=[(3, "item_id", "unknown item_id 'x'")]),
    Case("whitespace_only_line.csv", "pos/sales", "loaded", rows_in_file=2, loaded=[(2, "001"), (4, "002")]),
    # period_days is 1 or 7; empty means daily (NULL, staging reads it as 1).
    Case("period_days_invalid.csv", "pos/sales", "loaded", rows_in_file=4, loaded=[(2, 7), (5, None)],
         column="period_days",
         quarantined=[(3, "period_days", "got '3', expected one of 1, 7"),
                      (4, "period_days", "got 'seven', expected a whole number")]),
    # W1 sells by weight: 0.75 loads; 1.5 units of 001 do not; 2.0 is a whole number.
    Case("fractional_units.csv", "pos/sales", "loaded", rows_in_file=3, loaded=[(3, "W1"), (4, "002")],
         quarantined=[(2, "units", "got 1.5: fractional units, but item '001' does not sell by weight")]),
    # Every quantity column is checked against the item, not only units: returns_units too. A row
    # with two fractional quantities is quarantined on the first (units).
    Case("fractional_returns.csv", "pos/sales", "loaded", rows_in_file=4, loaded=[(3, "W1"), (5, "001")],
         quarantined=[(2, "returns_units", "got 0.5: fractional units, but item '001' does not sell by weight"),
                      (4, "units", "got 1.5: fractional units, but item '002' does not sell by weight")]),
    Case("non_finite_numbers.csv", "pos/sales", "loaded", rows_in_file=3, loaded=[(4, 1000.0)], column="units",
         quarantined=[(2, "units", "got 'nan', expected a number"), (3, "units", "got 'inf', expected a number")]),
    # A quote inside an unquoted field is kept as a character: the id 0"02 is unknown.
    Case("unquoted_quote.csv", "pos/sales", "loaded", rows_in_file=3, loaded=[(2, "001"), (4, "001")],
         quarantined=[(3, "item_id", "unknown item_id '0\"02'")]),
    Case("unterminated_quote.csv", "pos/sales", "loaded", rows_in_file=2, loaded=[(2, "001")],
         quarantined=[(3, None, "unterminated quoted field")]),
    Case("ambiguous_columns.csv", "pos/sales", "rejected", "columns 'units' and 'Units' are both read as 'units'"),
    Case("spreadsheet.xlsx", "pos/sales", "rejected", "not a supported extract type '.xlsx'"),
    Case("not_really.parquet", "pos/sales", "rejected", "not a readable Parquet file"),
    # Parquet rows count from 1; a NaN is not a number.
    Case("bad_values.parquet", "pos/sales", "loaded", rows_in_file=3, loaded=[(1, "001"), (3, "001")],
         quarantined=[(2, "units", "got 'nan', expected a number")]),
    Case("typed_columns.parquet", "pos/sales", "loaded", rows_in_file=2,
         loaded=[(1, Decimal("2.5")), (2, Decimal("4"))], column="net_sales"),
    # JSON Lines: line 2 is cut short (not an object), line 3 is blank (not a row).
    Case("bad_line.jsonl", "pos/sales", "loaded", rows_in_file=3, loaded=[(1, "001")],
         quarantined=[(2, None, "not a JSON object"), (4, "units", "got 'two', expected a number")]),
    Case("jsonl_missing_required.jsonl", "pos/sales", "rejected", "required column 'net_sales'"),
    Case("latin1.jsonl", "pos/sales", "rejected", "not UTF-8 text"),
    # Item 101's name spans lines 2-3, so 102 is on line 4 and the bad unit_cost of 103 on line 5.
    Case("quoted_newlines_items.csv", "erp/items", "loaded", rows_in_file=4,
         loaded=[(2, "101"), (4, "102"), (6, "104")],
         quarantined=[(5, "unit_cost", "got 'abc', expected a decimal amount")]),
    Case("items_whole_numbers.csv", "erp/items", "loaded", rows_in_file=4, loaded=[(5, "204")],
         quarantined=[(2, "pack_size", "got '3.5', expected a whole number"),
                      (3, "pack_size", "got '0', below the minimum 1"),
                      (4, "sold_by_weight", "got 'maybe', expected true or false")]),
    # '*' is every location; allowed values are compared case-insensitively.
    Case("promotion_rules.csv", "erp/promotions", "loaded", rows_in_file=5, loaded=[(2, "P1")],
         column="promotion_id",
         quarantined=[(3, "end_date", "end_date is before start_date"),
                      (4, "mechanic", "got 'bogo', expected one of tpr, feature, display, feature_display, multibuy"),
                      (5, "channel", "got 'online', expected one of store, ecom, all"),
                      (6, "promo_price", "got '-1.00', below the minimum 0")]),
    # Timestamps are stored in UTC; one without an offset is read as UTC.
    Case("timestamps_with_offsets.csv", "ecom/orders", "loaded", rows_in_file=4,
         loaded=[(2, datetime(2024, 1, 5, 4, 30)), (3, datetime(2024, 1, 4, 10, 0))], column="order_ts",
         quarantined=[(4, "order_ts", "got 'yesterday', expected a timestamp"),
                      (5, "status", "got 'shipped', expected one of placed, cancelled, returned")]),
]


def _registry(con: duckdb.DuckDBPyConnection, file: str) -> dict:
    cursor = con.execute("select * from ops.file_registry where file = ?", [file])
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_bad_extract(case: Case, landing, con) -> None:
    entity = ENTITIES_BY_PATH[case.entity]
    earlier_sales = table_rows(con, "raw.pos__sales")
    other_raw = {e: table_rows(con, f"raw.{ENTITIES_BY_PATH[e].name}") for e in ("erp/items", "erp/locations")}
    file = place(landing, case.file, case.entity)

    result = load(con, landing, case.entity)

    registry = _registry(con, file)
    assert registry["outcome"] == case.outcome, registry
    assert [o.file for o in result.outcomes] == [file]
    quarantine = con.execute(
        "select line_number, column_name, reason from ops.quarantine where file = ? order by line_number", [file]
    ).fetchall()
    new_rows = con.execute(
        f'select _row_number, "{case.column}" from raw.{entity.name} where _file = ? order by _row_number', [file]
    ).fetchall()
    if case.outcome == "rejected":
        assert case.reason in registry["reason"]
        assert registry["rows_loaded"] is None and quarantine == [] and new_rows == []
    else:
        assert registry["reason"] is None
        assert new_rows == case.loaded
        assert [(line, column) for line, column, _ in quarantine] == [(q[0], q[1]) for q in case.quarantined]
        for (_, _, reason), (_, _, phrase) in zip(quarantine, case.quarantined, strict=True):
            assert phrase in reason
        assert registry["rows_in_file"] == case.rows_in_file
        assert registry["rows_loaded"] == len(case.loaded)
        assert registry["rows_quarantined"] == len(case.quarantined)
        assert registry["rows_in_file"] == registry["rows_loaded"] + registry["rows_quarantined"]
    if case.warning:
        assert case.warning in registry["warnings"]
    # Nothing else changed: the earlier POS extract and the master data are exactly as they were.
    if case.entity != "pos/sales":
        assert table_rows(con, "raw.pos__sales") == earlier_sales
    else:
        assert table_rows(con, "raw.pos__sales", "_extract_date <> date '2024-01-05'") == earlier_sales
    for entity_path, rows in other_raw.items():
        if entity_path != case.entity:
            assert table_rows(con, f"raw.{ENTITIES_BY_PATH[entity_path].name}") == rows
    assert con.execute("select count(*) from ops.quarantine where file <> ?", [file]).fetchall() == [(0,)]


def test_corpus_has_a_test_for_every_file() -> None:
    covered = {c.file for c in CASES} | {"good_sales.csv", "restatement_v1.csv", "restatement_v2.csv"}
    on_disk = {p.name for p in BAD_EXTRACTS.iterdir()}
    assert on_disk == covered
    assert len(on_disk) >= 30


def test_quarantine_keeps_the_raw_record(landing, con) -> None:
    file = place(landing, "decimal_commas.csv", "pos/sales")
    load(con, landing, "pos/sales")
    records = dict(con.execute("select line_number, raw_record from ops.quarantine where file = ?", [file]).fetchall())
    # A typed row's record: every field as read, by header name; a record that could not be split: its text.
    assert records[2] == ('{"business_date":"2024-01-04","location_id":"S1","item_id":"001","units":"2",'
                          '"net_sales":"7,50","discount_amount":"0.00","period_days":"1"}')
    assert records[3] == "2024-01-04,S1,002,1,3,20,0.00,1"
    file = place(landing, "bad_line.jsonl", "pos/sales", extract_date="2024-01-06")
    load(con, landing, "pos/sales")
    records = dict(con.execute("select line_number, raw_record from ops.quarantine where file = ?", [file]).fetchall())
    assert records[2].endswith('"net_sales": 4.0, "discount_amount": 0')  # the line as it is in the file


def test_same_file_twice_is_a_duplicate_wherever_it_sits(landing, con) -> None:
    first = place(landing, "good_sales.csv", "pos/sales", "2024-01-05", "sales.csv")
    load(con, landing, "pos/sales", load_id="first")
    before = table_rows(con, "raw.pos__sales")
    copy = place(landing, "good_sales.csv", "pos/sales", "2024-01-06", "sales_resent.csv")

    result = load(con, landing, "pos/sales", load_id="second")

    assert [(o.file, o.outcome) for o in result.outcomes] == [(copy, "duplicate")]
    assert _registry(con, copy)["reason"] == f"same content as {first}, already loaded"
    assert table_rows(con, "raw.pos__sales") == before
    # Loading again registers nothing new: the registry is the record of what was done once.
    registry = table_rows(con, "ops.file_registry")
    again = load(con, landing, "pos/sales", load_id="third")
    assert again.outcomes == [] and table_rows(con, "ops.file_registry") == registry


def test_restated_extract_replaces_that_date_in_one_step(landing, con) -> None:
    v1 = place(landing, "restatement_v1.csv", "pos/sales", "2024-01-05", "sales.csv")
    load(con, landing, "pos/sales", load_id="first")
    assert con.execute("select count(*) from raw.pos__sales where _extract_date = '2024-01-05'").fetchall() == [(3,)]
    v2 = place(landing, "restatement_v2.csv", "pos/sales", "2024-01-05", "sales_restated.csv")

    result = load(con, landing, "pos/sales", load_id="second")

    assert [(o.file, o.outcome, o.restated_file) for o in result.outcomes] == [(v2, "loaded", v1)]
    rows = con.execute(
        "select location_id, item_id, units, _file from raw.pos__sales where _extract_date = '2024-01-05' order by all"
    ).fetchall()
    assert rows == [("S1", "001", 3.0, v2), ("S2", "002", 4.0, v2)]  # v1's three rows are gone, S2/001 included
    assert (_registry(con, v1)["outcome"], _registry(con, v1)["superseded_by"]) == ("superseded", v2)
    assert _registry(con, v2)["restated_file"] == v1
    # The other date is untouched.
    assert con.execute("select count(*) from raw.pos__sales where _extract_date = '2024-01-03'").fetchall() == [(2,)]


def test_restating_a_date_in_place_with_new_content(landing, con) -> None:
    path = landing / place(landing, "restatement_v1.csv", "pos/sales", "2024-01-05", "sales.csv")
    load(con, landing, "pos/sales", load_id="first")
    shutil.copyfile(BAD_EXTRACTS / "restatement_v2.csv", path)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    load(con, landing, "pos/sales", load_id="second")
    outcomes = con.execute("select outcome, load_id from ops.file_registry "
                           "where file = 'pos/sales/2024-01-05/sales.csv' order by registered_at").fetchall()
    assert outcomes == [("superseded", "first"), ("loaded", "second")]
    total = con.execute("select sum(units) from raw.pos__sales where _extract_date = '2024-01-05'").fetchall()
    assert total == [(7.0,)]


def test_extract_dated_in_the_future_is_rejected(landing, con) -> None:
    file = place(landing, "good_sales.csv", "pos/sales", "2024-02-01")
    # "Today" is 2024-01-30: an extract dated two days ahead cannot exist yet (one day is tolerated).
    load(con, landing, "pos/sales", today=date(2024, 1, 30))
    registry = _registry(con, file)
    assert registry["outcome"] == "rejected"
    assert registry["reason"].startswith("extract date 2024-02-01 is in the future (today is 2024-01-30)")
    # Moved to the right date (a new path), the same content loads: only loaded content makes duplicates.
    tomorrow = place(landing, "good_sales.csv", "pos/sales", "2024-01-31", "sales.csv")
    load(con, landing, "pos/sales", today=date(2024, 1, 30))
    assert _registry(con, tomorrow)["outcome"] == "loaded"
    assert _registry(con, file)["outcome"] == "rejected"


def test_partial_file_still_being_written_is_not_read(landing, con) -> None:
    partial = landing / "pos" / "sales" / "2024-01-05" / "sales.csv.part"
    partial.parent.mkdir(parents=True)
    partial.write_text(EARLIER_SALES.replace("2024-01-02", "2024-01-04")[:90], encoding="utf-8")
    assert scan_landing(landing).in_progress == ["pos/sales/2024-01-05/sales.csv.part"]
    result = load(con, landing, "pos/sales")
    assert result.outcomes == []
    assert con.execute("select count(*) from ops.file_registry where file like '%.part'").fetchall() == [(0,)]
    # The writer finishes and renames the file into place: now it loads.
    partial.write_text(EARLIER_SALES.replace("2024-01-02", "2024-01-04"), encoding="utf-8")
    partial.rename(partial.with_name("sales.csv"))
    result = load(con, landing, "pos/sales")
    assert [(o.outcome, o.rows_loaded) for o in result.outcomes] == [("loaded", 2)]


def test_file_modified_within_the_settle_time_waits_for_the_next_load(landing, con) -> None:
    file = place(landing, "good_sales.csv", "pos/sales")
    result = load(con, landing, "pos/sales", settle_seconds=3600)
    assert [(o.file, o.outcome) for o in result.outcomes] == [(file, "deferred")]
    assert con.execute("select count(*) from ops.file_registry where file = ?", [file]).fetchall() == [(0,)]
    old = time.time() - 7200
    os.utime(landing / file, (old, old))
    result = load(con, landing, "pos/sales", settle_seconds=3600)
    assert [(o.file, o.outcome) for o in result.outcomes] == [(file, "loaded")]


def test_files_outside_the_layout_are_rejected_and_recorded(landing, con) -> None:
    write(landing / "pos" / "sales" / "2024-13-45" / "sales.csv", EARLIER_SALES)
    write(landing / "pos" / "refunds" / "2024-01-04" / "refunds.csv", "refund_id\nR1\n")
    write(landing / "pos" / "sales" / "sales.csv", EARLIER_SALES)
    write(landing / "loose.csv", EARLIER_SALES)
    outcomes = record_misplaced_files(con, landing, "misplaced-load")
    reasons = {o.file: o.reason for o in outcomes}
    assert reasons == {
        "loose.csv": "outside the folder layout (expected <system>/<entity>/<YYYY-MM-DD>/<file>)",
        "pos/refunds/2024-01-04/refunds.csv": reasons["pos/refunds/2024-01-04/refunds.csv"],
        "pos/sales/2024-13-45/sales.csv": reasons["pos/sales/2024-13-45/sales.csv"],
        "pos/sales/sales.csv": "outside the folder layout (expected <system>/<entity>/<YYYY-MM-DD>/<file>)",
    }
    assert reasons["pos/refunds/2024-01-04/refunds.csv"].startswith("unknown entity pos/refunds")
    assert "'2024-13-45' is not a valid date" in reasons["pos/sales/2024-13-45/sales.csv"]
    assert con.execute("select count(*) from ops.file_registry where outcome = 'rejected'").fetchall() == [(4,)]
    # Recorded once: a second look registers nothing new.
    assert record_misplaced_files(con, landing, "again") == []
