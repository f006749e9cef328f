"""The landing contract (DESIGN §3): which entities exist, their keys, columns and types.

Everything that reads or writes landing extracts takes its column lists from here, so the
loader, the adapters, the generator and docs/landing_contract.md cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

# DuckDB types used by the contract. Money is decimal; quantities are DOUBLE because POS
# units can be fractional for items sold by weight and negative for net returns.
MONEY = "DECIMAL(18,4)"
QUANTITY = "DOUBLE"
ID = "VARCHAR"
TEXT = "VARCHAR"
DATE = "DATE"
INTEGER = "INTEGER"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True
    allowed: tuple[str, ...] | None = None
    description: str = ""


@dataclass(frozen=True)
class Entity:
    """One landing entity: `landing/<system>/<entity>/<extract_date>/<name>.<ext>`."""

    system: str
    entity: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str = ""
    master_data: bool = False

    @property
    def name(self) -> str:
        """`system__entity`, used for raw table names (`raw.erp__items`)."""
        return f"{self.system}__{self.entity}"

    @property
    def path(self) -> str:
        return f"{self.system}/{self.entity}"

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, type_: str, required: bool = True, allowed: tuple[str, ...] | None = None,
       description: str = "") -> Column:
    return Column(name, type_, required, allowed, description)


ITEMS = Entity(
    "erp", "items", ("item_id",),
    (
        _c("item_id", ID), _c("item_name", TEXT), _c("category", TEXT), _c("subcategory", TEXT),
        _c("brand", TEXT), _c("unit_cost", MONEY), _c("regular_price", MONEY),
        _c("pack_size", INTEGER), _c("moq", INTEGER), _c("supplier_id", ID),
        _c("lead_time_days", INTEGER),
        _c("lead_time_std_days", QUANTITY, False), _c("status", TEXT, False), _c("uom", TEXT, False),
    ),
    "Item master (full snapshot per extract).", master_data=True,
)

LOCATIONS = Entity(
    "erp", "locations", ("location_id",),
    (
        _c("location_id", ID), _c("location_name", TEXT),
        _c("location_type", TEXT, allowed=("store", "dc", "ecom")),
        _c("region", TEXT), _c("cluster", TEXT),
        _c("city", TEXT, False), _c("state", TEXT, False),
        _c("selling_area_sqft", QUANTITY, False), _c("serving_dc_id", ID, False),
    ),
    "Location master: stores, distribution centres, e-commerce (full snapshot per extract).",
    master_data=True,
)

PROMOTIONS = Entity(
    "erp", "promotions", ("promotion_id", "item_id", "location_id"),
    (
        _c("promotion_id", ID), _c("item_id", ID), _c("location_id", ID),
        _c("start_date", DATE), _c("end_date", DATE), _c("promo_price", MONEY),
        _c("mechanic", TEXT, allowed=("tpr", "feature", "display", "feature_display", "multibuy")),
        _c("channel", TEXT, allowed=("store", "ecom", "all")),
        _c("approval_status", TEXT),
        _c("vendor_funding_per_unit", MONEY, False),
        _c("funding_type", TEXT, False, allowed=("scan_back", "off_invoice", "lump_sum")),
        _c("lump_sum_funding", MONEY, False), _c("planned_units", QUANTITY, False),
    ),
    "Promotion plan lines; location_id `*` means every location.",
)

SALES = Entity(
    "pos", "sales", ("business_date", "location_id", "item_id"),
    (
        _c("business_date", DATE), _c("location_id", ID), _c("item_id", ID),
        _c("units", QUANTITY), _c("net_sales", MONEY), _c("discount_amount", MONEY),
        _c("baskets", QUANTITY, False), _c("returns_units", QUANTITY, False),
        _c("period_days", INTEGER, False),
    ),
    "POS sales, daily; or weekly summaries with period_days = 7 and business_date = last day.",
)

SNAPSHOTS = Entity(
    "inventory", "snapshots", ("snapshot_date", "location_id", "item_id"),
    (
        _c("snapshot_date", DATE), _c("location_id", ID), _c("item_id", ID),
        _c("on_hand_units", QUANTITY),
        _c("in_transit_units", QUANTITY, False), _c("on_order_units", QUANTITY, False),
        _c("reserved_units", QUANTITY, False), _c("stockout_hours", QUANTITY, False),
    ),
    "End-of-day inventory snapshots per item and location.",
)

# Landing v1 (issue 2). Issue 3 adds purchase_orders, ecom, receipts and store_ops.
ENTITIES: tuple[Entity, ...] = (ITEMS, LOCATIONS, PROMOTIONS, SALES, SNAPSHOTS)
ENTITIES_BY_PATH: dict[str, Entity] = {e.path: e for e in ENTITIES}

SUPPORTED_EXTENSIONS = (".csv", ".parquet", ".jsonl")
PROVENANCE_FILE = "provenance.json"
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def extract_path(landing_dir: Path, entity: Entity, extract_date: date, name: str,
                 ext: str = ".csv") -> Path:
    """Where an extract of `entity` for `extract_date` lives in the landing folder."""
    return landing_dir / entity.system / entity.entity / extract_date.isoformat() / f"{name}{ext}"


def is_date_dir(name: str) -> bool:
    return bool(_DATE_DIR.match(name))
