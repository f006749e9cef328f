"""The landing contract (DESIGN §3): which entities exist, their keys, columns, types and row rules.

Everything that reads or writes landing extracts takes its column lists from here, so the
loader, the expectations, the adapters, the generator and docs/landing_contract.md cannot
drift apart.
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
TIMESTAMP = "TIMESTAMP"  # stored in UTC; a value without an offset is read as UTC
INTEGER = "INTEGER"
BOOLEAN = "BOOLEAN"

ITEMS_PATH = "erp/items"
LOCATIONS_PATH = "erp/locations"


@dataclass(frozen=True)
class Column:
    """One contract column and the row rules that apply to its values.

    A value breaking any rule sends its row to ops.quarantine (DESIGN §3, "file or row?").
    """

    name: str
    type: str
    required: bool = True
    allowed: tuple[str, ...] | None = None  # compared after trimming, case-insensitively
    description: str = ""
    minimum: float | None = None  # smaller values are quarantined
    maximum: float | None = None  # larger values are quarantined
    # A quantity of an item: fractional values only where the item sells by weight.
    whole_units: bool = False
    # "erp/items" or "erp/locations": the id must exist in that master data.
    references: str | None = None
    # A value that stands for "every location" instead of an id (promotions: '*').
    wildcard: str | None = None


@dataclass(frozen=True)
class RowRule:
    """A rule between columns of one row, as a DuckDB boolean over the typed columns."""

    column: str  # the column reported in ops.quarantine
    sql: str  # true when the row is fine (NULLs pass: required values are checked separately)
    reason: str


@dataclass(frozen=True)
class Entity:
    """One landing entity: `landing/<system>/<entity>/<extract_date>/<name>.<ext>`."""

    system: str
    entity: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str = ""
    master_data: bool = False
    row_rules: tuple[RowRule, ...] = ()
    # The marts and the forecast cannot be built without this entity: a landing folder without
    # it stops `retailops run` before anything is written.
    needed_by_pipeline: bool = False

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
       description: str = "", **rules: object) -> Column:
    return Column(name, type_, required, allowed, description, **rules)  # type: ignore[arg-type]


def _item_ref(name: str = "item_id") -> Column:
    return Column(name, ID, references=ITEMS_PATH)


def _location_ref(name: str = "location_id") -> Column:
    return Column(name, ID, references=LOCATIONS_PATH)


def _units(name: str, required: bool = True, minimum: float | None = 0) -> Column:
    """An item quantity: whole units unless the item sells by weight."""
    return Column(name, QUANTITY, required, minimum=minimum, whole_units=True)


ITEMS = Entity(
    "erp", "items", ("item_id",),
    (
        _c("item_id", ID), _c("item_name", TEXT), _c("category", TEXT), _c("subcategory", TEXT),
        _c("brand", TEXT), _c("unit_cost", MONEY, minimum=0), _c("regular_price", MONEY, minimum=0),
        _c("pack_size", INTEGER, minimum=1), _c("moq", INTEGER, minimum=0), _c("supplier_id", ID),
        _c("lead_time_days", INTEGER, minimum=0),
        _c("lead_time_std_days", QUANTITY, False, minimum=0), _c("status", TEXT, False), _c("uom", TEXT, False),
        _c("sold_by_weight", BOOLEAN, False,
           description="true when the item sells by weight: only then may its quantities be fractional"),
    ),
    "Item master (full snapshot per extract).", master_data=True, needed_by_pipeline=True,
)

LOCATIONS = Entity(
    "erp", "locations", ("location_id",),
    (
        _c("location_id", ID), _c("location_name", TEXT),
        _c("location_type", TEXT, allowed=("store", "dc", "ecom")),
        _c("region", TEXT), _c("cluster", TEXT),
        _c("city", TEXT, False), _c("state", TEXT, False),
        _c("selling_area_sqft", QUANTITY, False, minimum=0), _c("serving_dc_id", ID, False),
    ),
    "Location master: stores, distribution centres, e-commerce (full snapshot per extract).",
    master_data=True, needed_by_pipeline=True,
)

PROMOTIONS = Entity(
    "erp", "promotions", ("promotion_id", "item_id", "location_id"),
    (
        _c("promotion_id", ID), _item_ref(),
        Column("location_id", ID, references=LOCATIONS_PATH, wildcard="*"),
        _c("start_date", DATE), _c("end_date", DATE), _c("promo_price", MONEY, minimum=0),
        _c("mechanic", TEXT, allowed=("tpr", "feature", "display", "feature_display", "multibuy")),
        _c("channel", TEXT, allowed=("store", "ecom", "all")),
        _c("approval_status", TEXT),
        _c("vendor_funding_per_unit", MONEY, False, minimum=0),
        _c("funding_type", TEXT, False, allowed=("scan_back", "off_invoice", "lump_sum")),
        _c("lump_sum_funding", MONEY, False, minimum=0), _c("planned_units", QUANTITY, False, minimum=0),
    ),
    "Promotion plan lines; location_id `*` means every location.",
    row_rules=(RowRule("end_date", "end_date >= start_date", "end_date is before start_date"),),
    needed_by_pipeline=True,
)

PURCHASE_ORDERS = Entity(
    "erp", "purchase_orders", ("po_id", "line_no"),
    (
        _c("po_id", ID), _c("line_no", INTEGER, minimum=1), _item_ref(), _location_ref(),
        _c("order_date", DATE), _c("expected_date", DATE),
        _units("ordered_units"), _units("received_units"),
    ),
    "Purchase order lines to suppliers; open units = ordered − received.",
)

SALES = Entity(
    "pos", "sales", ("business_date", "location_id", "item_id"),
    (
        _c("business_date", DATE), _location_ref(), _item_ref(),
        # Negative units are net returns: loaded, and flagged by the expectations.
        _units("units", minimum=None), _c("net_sales", MONEY), _c("discount_amount", MONEY),
        _c("baskets", QUANTITY, False, minimum=0), _units("returns_units", False),
        _c("period_days", INTEGER, False, allowed=("1", "7")),
    ),
    "POS sales, daily; or weekly summaries with period_days = 7 and business_date = last day.",
    needed_by_pipeline=True,
)

ECOM_ORDERS = Entity(
    "ecom", "orders", ("order_id", "line_no"),
    (
        _c("order_id", ID), _c("line_no", INTEGER, minimum=1), _c("order_ts", TIMESTAMP), _item_ref(),
        _location_ref("fulfil_location_id"), _units("units"), _c("unit_price", MONEY, minimum=0),
        _c("status", TEXT, allowed=("placed", "cancelled", "returned")),
    ),
    "E-commerce order lines with the location that fulfils them.",
)

ECOM_PRICES = Entity(
    "ecom", "prices", ("item_id", "effective_ts"),
    (_item_ref(), _c("effective_ts", TIMESTAMP), _c("web_price", MONEY, minimum=0), _c("promotion_id", ID, False)),
    "Web shop price changes: the price in force from effective_ts until the next change.",
)

SNAPSHOTS = Entity(
    "inventory", "snapshots", ("snapshot_date", "location_id", "item_id"),
    (
        _c("snapshot_date", DATE), _location_ref(), _item_ref(),
        # Negative on-hand is a bookkeeping lag: loaded, and flagged by the expectations.
        _units("on_hand_units", minimum=None),
        _units("in_transit_units", False), _units("on_order_units", False),
        _units("reserved_units", False), _c("stockout_hours", QUANTITY, False, minimum=0, maximum=24),
    ),
    "End-of-day inventory snapshots per item and location.",
    needed_by_pipeline=True,
)

RECEIPTS = Entity(
    "inventory", "receipts", ("receipt_id",),
    (
        _c("receipt_id", ID), _c("receipt_date", DATE), _location_ref(), _item_ref(), _units("units"),
        _c("po_id", ID, False),
    ),
    "Goods received at a location (from a supplier or a DC).",
)

TASKS = Entity(
    "store_ops", "tasks", ("task_id",),
    (
        _c("task_id", ID), _c("promotion_id", ID), _location_ref(),
        _c("task_type", TEXT, allowed=("signage", "display", "price_label")),
        _c("due_ts", TIMESTAMP), _c("completed_ts", TIMESTAMP, False),
    ),
    "Store execution tasks for promotions (signage, displays, price labels).",
)

# Master data first: the other entities' ids are checked against it when they load.
ENTITIES: tuple[Entity, ...] = (
    ITEMS, LOCATIONS, PROMOTIONS, PURCHASE_ORDERS, SALES, ECOM_ORDERS, ECOM_PRICES, SNAPSHOTS, RECEIPTS, TASKS,
)
ENTITIES_BY_PATH: dict[str, Entity] = {e.path: e for e in ENTITIES}
MASTER_DATA: tuple[Entity, ...] = tuple(e for e in ENTITIES if e.master_data)

SUPPORTED_EXTENSIONS = (".csv", ".parquet", ".jsonl")
PROVENANCE_FILE = "provenance.json"
# Writers deliver a file under a temporary name and rename it when complete; such names are
# never read (DESIGN §3: a partial file still being written must not be loaded).
IN_PROGRESS_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".filepart", ".swp")
# An extract dated more than this many days after today (UTC) is rejected as misdated.
FUTURE_TOLERANCE_DAYS = 1
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def extract_path(landing_dir: Path, entity: Entity, extract_date: date, name: str,
                 ext: str = ".csv") -> Path:
    """Where an extract of `entity` for `extract_date` lives in the landing folder."""
    return landing_dir / entity.system / entity.entity / extract_date.isoformat() / f"{name}{ext}"


def is_date_dir(name: str) -> bool:
    return bool(_DATE_DIR.match(name))


def is_in_progress(name: str) -> bool:
    """A file or folder name that a writer uses while the file is not complete yet."""
    lowered = name.lower()
    return name.startswith((".", "~")) or name.endswith("~") or lowered.endswith(IN_PROGRESS_SUFFIXES)


def normalise_column_name(name: str) -> str:
    """Header → contract name: surrounding blanks dropped, lower case, inner blanks and dashes as '_'."""
    return re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").strip()).lower()
