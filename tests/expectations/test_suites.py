"""The Great Expectations suites: what they flag on data loaded by the real loader, and their check results."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from expectations.runner import check_metadata, run_suite, to_asset_check_results
from expectations.suites import CRITICAL, SUITES, WARNING
from ingestion.contract import ENTITIES
from tests.ingestion.conftest import EARLIER_SALES, ITEMS_CSV, LOCATIONS_CSV, load, place, write


@pytest.fixture
def warehouse(tmp_path: Path) -> tuple[Path, duckdb.DuckDBPyConnection]:
    landing = tmp_path / "landing"
    write(landing / "erp" / "items" / "2024-01-01" / "items.csv", ITEMS_CSV)
    write(landing / "erp" / "locations" / "2024-01-01" / "locations.csv", LOCATIONS_CSV)
    write(landing / "pos" / "sales" / "2024-01-03" / "sales.csv", EARLIER_SALES)
    con = duckdb.connect()
    for entity_path in ("erp/items", "erp/locations", "pos/sales"):
        load(con, landing, entity_path, load_id="base")
    yield landing, con
    con.close()


def test_every_raw_entity_has_a_suite_with_both_severities_where_it_matters() -> None:
    assert set(SUITES) == {e.path for e in ENTITIES}
    sales = {(s.expectation, s.columns, s.severity) for s in SUITES["pos/sales"].expectations}
    assert ("ExpectColumnValuesToNotBeNull", "units", CRITICAL) in sales
    assert ("ExpectCompoundColumnsToBeUnique", "business_date, location_id, item_id, _extract_date", CRITICAL) in sales
    assert ("ExpectColumnValuesToBeInSet", "period_days", CRITICAL) in sales
    assert ("ExpectColumnValuesToBeBetween", "units", WARNING) in sales
    promotions = {(s.expectation, s.columns, s.severity) for s in SUITES["erp/promotions"].expectations}
    assert ("ExpectColumnPairValuesAToBeGreaterThanB", "end_date, start_date", CRITICAL) in promotions
    assert ("ExpectColumnPairValuesAToBeGreaterThanB", "regular_price, promo_price", WARNING) in promotions


def test_negative_and_absurd_units_are_warnings_with_samples(warehouse) -> None:
    landing, con = warehouse
    place(landing, "absurd_and_negative_units.csv", "pos/sales")
    load(con, landing, "pos/sales", load_id="bad")
    result = run_suite(con, SUITES["pos/sales"], load_id="bad")
    assert result.rows_validated == 3
    assert result.passed(CRITICAL)
    # Rows: units -2, 1,000,000 and 3 (tests/ingestion/bad_extracts/absurd_and_negative_units.csv).
    flagged = sorted((o.description, o.unexpected_count, o.sample) for o in result.failed(WARNING))
    assert flagged == [
        ("an absurd quantity sold in one row", 1, [1_000_000.0]),
        ("net returns: negative units sold", 1, [-2.0]),
    ]


def test_the_base_load_passes_everything(warehouse) -> None:
    _, con = warehouse
    for entity_path in ("erp/items", "erp/locations", "pos/sales"):
        result = run_suite(con, SUITES[entity_path], load_id="base")
        assert result.rows_validated > 0
        assert result.failed(CRITICAL) == [] and result.failed(WARNING) == [], entity_path


def test_promotion_price_above_regular_price_is_a_warning(warehouse) -> None:
    landing, con = warehouse
    write(landing / "erp" / "promotions" / "2024-01-05" / "promotions.csv",
          "promotion_id,item_id,location_id,start_date,end_date,promo_price,mechanic,channel,approval_status\n"
          "P1,001,S1,2024-01-01,2024-01-07,3.00,display,store,approved\n"
          "P2,002,*,2024-01-01,2024-01-07,1.50,tpr,store,approved\n")
    load(con, landing, "erp/promotions", load_id="promo")
    result = run_suite(con, SUITES["erp/promotions"], load_id="promo")
    assert result.passed(CRITICAL)
    # Item 001's regular price is 2.50 (tests/ingestion/conftest.py): P1 at 3.00 is above it; P2 is below 2.00.
    assert [(o.description, o.unexpected_count, o.sample) for o in result.failed(WARNING)] == [
        ("the promotion price is above the item's regular price", 1, [[2.5, 3.0]])
    ]


def test_a_corrupted_raw_table_fails_the_critical_suite(warehouse) -> None:
    _, con = warehouse
    # Rows the loader would never write: a repeated key and a missing required value.
    con.execute("insert into raw.pos__sales select * replace (units * 2 as units) from raw.pos__sales "
                "where item_id = '001'")
    con.execute("update raw.pos__sales set net_sales = null where item_id = '002'")
    result = run_suite(con, SUITES["pos/sales"], load_id="base")
    assert {o.label: o.unexpected_count for o in result.failed(CRITICAL)} == {
        "ExpectColumnValuesToNotBeNull(net_sales)": 1,
        "ExpectCompoundColumnsToBeUnique(business_date, location_id, item_id, _extract_date)": 2,
    }
    checks = {r.check_name: r for r in to_asset_check_results(["raw", "pos__sales"], result)}
    assert not checks["expectations_critical"].passed
    assert checks["expectations_critical"].severity.value == "ERROR"
    assert checks["expectations_warnings"].passed and checks["expectations_warnings"].severity.value == "WARN"
    metadata = check_metadata(result, CRITICAL)
    assert metadata["failed"] == 2 and metadata["rows_validated"] == 3
    assert metadata["ExpectColumnValuesToNotBeNull(net_sales)"]["unexpected_count"] == 1


def test_an_empty_batch_passes_without_running_gx(warehouse) -> None:
    _, con = warehouse
    result = run_suite(con, SUITES["ecom/orders"], load_id="nothing")
    assert result.rows_validated == 0 and result.passed(CRITICAL) and result.passed(WARNING)
