"""Landing v1 loader: typed raw tables, load metadata, and clear errors that change nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingestion.contract import ITEMS, SALES
from ingestion.loader import LandingError, load_entity, validate_landing

SALES_HEADER = "business_date,location_id,item_id,units,net_sales,discount_amount,period_days\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _sales_file(landing: Path, extract_date: str, body: str, name: str = "sales.csv") -> Path:
    return _write(landing / "pos" / "sales" / extract_date / name, SALES_HEADER + body)


def test_loads_typed_rows_with_line_numbers_and_keeps_leading_zeros(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _sales_file(landing, "2024-01-04", "2024-01-03, 001 ,0042,3,7.50,1.50,7\n2024-01-03,001,0043,-1,-2.5,0,7\n")
    con = duckdb.connect()
    result = load_entity(con, landing, SALES, "load-1")
    assert (result.files, result.rows) == (1, 2)
    rows = con.execute(
        "select location_id, item_id, units, net_sales, _row_number, _extract_date, _file "
        "from raw.pos__sales order by _row_number"
    ).fetchall()
    # Ids are trimmed but never lose leading zeros; net returns stay as negative units.
    assert rows[0][:5] == ("001", "0042", 3.0, pytest.approx(7.5), 2)
    assert rows[1][2] == -1.0 and rows[1][4] == 3
    assert str(rows[0][5]) == "2024-01-04"
    assert rows[0][6] == "pos/sales/2024-01-04/sales.csv"
    registry = con.execute("select entity, rows from ops.file_registry").fetchall()
    assert registry == [("pos/sales", 2)]


def test_missing_required_column_names_file_and_column_and_keeps_old_table(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _sales_file(landing, "2024-01-04", "2024-01-03,1,42,3,7.5,0,7\n")
    con = duckdb.connect()
    load_entity(con, landing, SALES, "load-1")
    bad = _write(
        landing / "pos" / "sales" / "2024-01-11" / "sales.csv",
        "business_date,location_id,item_id,net_sales,discount_amount\n2024-01-10,1,42,7.5,0\n",
    )
    with pytest.raises(LandingError, match=r"sales\.csv: required column 'units'") as raised:
        load_entity(con, landing, SALES, "load-2")
    assert str(bad) in str(raised.value)
    assert con.execute("select count(*), min(_load_id) from raw.pos__sales").fetchone() == (1, "load-1")


def test_unparseable_value_names_line_and_column(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _sales_file(landing, "2024-01-04", "2024-01-03,1,42,3,7.5,0,7\n2024-01-03,1,43,three,7.5,0,7\n")
    with pytest.raises(LandingError, match=r"line 3, column 'units': got 'three', expected a DOUBLE value"):
        load_entity(duckdb.connect(), landing, SALES, "load-1")


def test_value_outside_allowed_list_is_an_error(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _write(
        landing / "erp" / "locations" / "2024-01-04" / "locations.csv",
        "location_id,location_name,location_type,region,cluster\n1,North,store,KY,A\n2,South,warehouse,KY,A\n",
    )
    from ingestion.contract import LOCATIONS

    with pytest.raises(LandingError, match=r"line 3, column 'location_type': got 'warehouse', expected one of"):
        load_entity(duckdb.connect(), landing, LOCATIONS, "load-1")


def test_missing_entity_folder_and_bad_date_folder(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    with pytest.raises(LandingError, match=r"landing folder for erp/items is missing"):
        load_entity(duckdb.connect(), landing, ITEMS, "load-1")
    _write(landing / "pos" / "sales" / "2024-13-45" / "s.csv", SALES_HEADER)
    with pytest.raises(LandingError, match=r"2024-13-45: extract folder name is not a valid date"):
        load_entity(duckdb.connect(), landing, SALES, "load-1")


def test_validate_landing_reports_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(LandingError, match=r"does not exist"):
        validate_landing(tmp_path / "nowhere")


def test_not_utf8_is_rejected_with_file_name(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = landing / "pos" / "sales" / "2024-01-04" / "sales.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(SALES_HEADER.encode() + "2024-01-03,1,42,3,7.5,0,7 caf\xe9\n".encode("latin-1"))
    with pytest.raises(LandingError, match=r"sales\.csv"):
        load_entity(duckdb.connect(), landing, SALES, "load-1")
