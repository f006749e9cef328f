"""Shared helpers for the ingestion tests: a small landing folder with master data, and loading it."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from ingestion.contract import ENTITIES_BY_PATH
from ingestion.loader import EntityLoad, load_entity

BAD_EXTRACTS = Path(__file__).parent / "bad_extracts"

# Items 001-003 sell by the unit, W1 by weight; ids keep their leading zeros.
ITEMS_CSV = (
    "item_id,item_name,category,subcategory,brand,unit_cost,regular_price,pack_size,moq,supplier_id,"
    "lead_time_days,sold_by_weight\n"
    "001,Granola,CEREAL,GRANOLA,B1,1.00,2.50,6,6,V1,7,\n"
    "002,Oats,CEREAL,OATS,B1,1.00,2.00,6,6,V1,7,false\n"
    "003,Muesli,CEREAL,MUESLI,B1,1.00,2.00,6,6,V1,7,\n"
    "W1,Cheddar,DAIRY,CHEESE,B2,2.00,4.00,1,1,V2,2,true\n"
)
LOCATIONS_CSV = "location_id,location_name,location_type,region,cluster\nS1,North,store,R1,A\nS2,South,store,R1,B\n"
SALES_HEADER = "business_date,location_id,item_id,units,net_sales,discount_amount,period_days\n"
# An earlier, good POS extract: bad files loaded later must leave these rows exactly as they are.
EARLIER_SALES = SALES_HEADER + "2024-01-02,S1,001,3,7.50,0.00,1\n2024-01-02,S2,002,1,2.00,0.00,1\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def place(landing: Path, corpus_file: str, entity_path: str, extract_date: str = "2024-01-05",
          name: str | None = None) -> str:
    """Copy a corpus file into the landing folder; return its path relative to the landing folder."""
    target = landing / entity_path / extract_date / (name or corpus_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BAD_EXTRACTS / corpus_file, target)
    return target.relative_to(landing).as_posix()


def load(con: duckdb.DuckDBPyConnection, landing: Path, entity_path: str, load_id: str = "test-load",
         **options) -> EntityLoad:
    return load_entity(con, landing, ENTITIES_BY_PATH[entity_path], load_id, **options)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """A landing folder with items, locations and one earlier POS extract."""
    root = tmp_path / "landing"
    write(root / "erp" / "items" / "2024-01-01" / "items.csv", ITEMS_CSV)
    write(root / "erp" / "locations" / "2024-01-01" / "locations.csv", LOCATIONS_CSV)
    write(root / "pos" / "sales" / "2024-01-03" / "sales.csv", EARLIER_SALES)
    return root


@pytest.fixture
def con(landing: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the landing fixture's master data and earlier sales loaded."""
    connection = duckdb.connect()
    for entity_path in ("erp/items", "erp/locations", "pos/sales"):
        load(connection, landing, entity_path, load_id="base-load")
    yield connection
    connection.close()


def table_rows(con: duckdb.DuckDBPyConnection, relation: str, where: str = "true") -> list[tuple]:
    return con.execute(f"select * from {relation} where {where} order by all").fetchall()
