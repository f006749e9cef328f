"""provenance.json and landing output helpers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingestion.contract import SALES
from ingestion.provenance import (
    derived,
    format_cents,
    format_quantity,
    observed,
    read_provenance,
    staged_landing_dir,
    write_extract,
    write_provenance,
)


def test_round_trip_in_the_shared_format(tmp_path: Path) -> None:
    write_provenance(
        tmp_path,
        "demo",
        "a test",
        "tests 1",
        {
            "pos/sales": {"units": observed("till units"), "discount_amount": derived("units × markdown")},
        },
    )
    assert read_provenance(tmp_path) == {
        "dataset": "demo",
        "source": "a test",
        "generated_by": "tests 1",
        "entities": {
            "pos/sales": {
                "columns": {
                    "units": {"origin": "observed", "rule": "till units"},
                    "discount_amount": {"origin": "derived", "rule": "units × markdown"},
                }
            }
        },
    }


def test_read_provenance_absent_or_malformed(tmp_path: Path) -> None:
    assert read_provenance(tmp_path) is None
    (tmp_path / "provenance.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"provenance.json: not valid JSON \(line 1"):
        read_provenance(tmp_path)


@pytest.mark.parametrize(
    ("entities", "message"),
    [
        ({"pos/till": {}}, "unknown entity 'pos/till'"),
        ({"pos/sales": {"colour": observed("x")}}, "no contract column 'colour'"),
        ({"pos/sales": {"units": {"origin": "guessed"}}}, "origin 'guessed'"),
        ({"pos/sales": {"units": {"origin": "derived"}}}, "states no rule"),
    ],
)
def test_write_provenance_rejects_what_the_contract_does_not_know(tmp_path: Path, entities: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_provenance(tmp_path, "demo", "s", "g", entities)


def test_write_extract_orders_columns_and_checks_them(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "units": [3],
            "item_id": ["007"],
            "location_id": ["01"],
            "business_date": ["2024-01-03"],
            "net_sales": ["7.50"],
            "discount_amount": ["0.00"],
        }
    )
    path = write_extract(tmp_path, SALES, date(2024, 1, 4), "sales", rows)
    assert path == tmp_path / "pos" / "sales" / "2024-01-04" / "sales.csv"
    assert path.read_bytes() == (
        b"business_date,location_id,item_id,units,net_sales,discount_amount\n2024-01-03,01,007,3,7.50,0.00\n"
    )
    with pytest.raises(ValueError, match=r"required columns \['discount_amount'\]"):
        write_extract(tmp_path, SALES, date(2024, 1, 4), "sales", rows.drop(columns=["discount_amount"]))
    with pytest.raises(ValueError, match="not in the landing contract"):
        write_extract(tmp_path, SALES, date(2024, 1, 4), "sales", rows.assign(colour="red"))


def test_number_formatting() -> None:
    assert format_cents(np.array([1234, 5, -205, 0])).tolist() == ["12.34", "0.05", "-2.05", "0.00"]
    assert format_quantity(np.array([12.0, -3.0, 2.5, np.nan])).tolist() == ["12", "-3", "2.5", None]


def test_staged_landing_dir_keeps_the_old_output_when_the_build_fails(tmp_path: Path) -> None:
    out = tmp_path / "landing"
    with staged_landing_dir(out, "demo") as staging:
        write_provenance(staging, "demo", "s", "g", {})
        (staging / "erp").mkdir()
    assert (out / "erp").is_dir()
    with pytest.raises(RuntimeError), staged_landing_dir(out, "demo") as staging:
        raise RuntimeError("build failed")
    assert (out / "erp").is_dir() and not staging.exists()
    with pytest.raises(FileExistsError, match="dataset 'demo'"):
        with staged_landing_dir(out, "another"):
            pass


@pytest.mark.parametrize(
    "user_file",
    ["notes.txt", "my_analysis/notes.txt", "erp/items/README.txt", "erp/items/2024-01-04/README.txt",
     "erp/suppliers/2024-01-04/s.csv"],
)
def test_staged_landing_dir_refuses_to_replace_a_users_own_files(tmp_path: Path, user_file: str) -> None:
    out = tmp_path / "landing"
    entities = {"erp/items": {"item_id": {"origin": "observed", "rule": "id"}}}
    with staged_landing_dir(out, "demo") as staging:
        write_provenance(staging, "demo", "s", "g", entities)
        (staging / "erp" / "items" / "2024-01-04").mkdir(parents=True)
        (staging / "erp" / "items" / "2024-01-04" / "items.csv").write_text("item_id\n1\n")
    mine = out / user_file
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("my work")
    with pytest.raises(FileExistsError, match="outside the landing layout"):
        with staged_landing_dir(out, "demo"):
            pass
    assert mine.read_text() == "my work"
