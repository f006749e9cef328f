"""dunnhumby "Breakfast at the Frat" → landing extracts (erp items, locations, promotions; pos sales; inventory).

The dataset is weekly store × UPC sales with shelf price, base price and feature / display /
TPR flags. It has no costs, pack sizes, lead times, inventory or promotion records: those
are derived by the rules in ingestion/derive.py, documented in docs/derived_data.md, and
marked "derived" in provenance.json. Observed values are passed through unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion import derive
from ingestion.contract import ITEMS, LOCATIONS, PROMOTIONS, SALES, SNAPSHOTS
from ingestion.provenance import (
    derived,
    format_cents,
    format_quantity,
    observed,
    staged_landing_dir,
    write_extract,
    write_provenance,
    write_weekly_extracts,
)

DATASET = "dunnhumby_breakfast_at_the_frat"
ADAPTER_VERSION = "1.0.0"
GENERATED_BY = f"ingestion.adapters.batf {ADAPTER_VERSION}"

TRANSACTIONS_FILE = "transactions.parquet"
PRODUCTS_FILE = "products.csv"
STORES_FILE = "stores.csv"
TRANSACTION_COLUMNS = (
    "week_end_date",
    "store_num",
    "upc",
    "units",
    "visits",
    "spend",
    "price",
    "base_price",
    "feature",
    "display",
    "tpr_only",
)
PRODUCT_COLUMNS = ("upc", "description", "manufacturer", "category", "sub_category", "product_size")
STORE_COLUMNS = (
    "store_num",
    "store_name",
    "address_city_name",
    "address_state_prov_code",
    "seg_value_name",
    "sales_area_size_num",
)
WEDNESDAY = 2  # date.weekday(); Breakfast at the Frat weeks end on Wednesday
# An item is 'active' if it sold anywhere in the last ACTIVE_WEEKS weeks of the data.
ACTIVE_WEEKS = 4


@dataclass
class AdaptSummary:
    """What adapt_batf wrote."""

    rows_written: dict[str, int] = field(default_factory=dict)
    files_written: int = 0
    promotions_reconstructed: int = 0
    promotions_skipped_no_price: int = 0
    first_week_end: date | None = None
    last_week_end: date | None = None
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"Breakfast at the Frat → landing: {self.files_written} files in {self.seconds:.1f} s"]
        lines += [f"  {entity}: {rows} rows" for entity, rows in self.rows_written.items()]
        lines.append(
            f"  promotions reconstructed: {self.promotions_reconstructed} "
            f"(skipped without any price: {self.promotions_skipped_no_price})"
        )
        lines.append(f"  weeks ending {self.first_week_end} .. {self.last_week_end}")
        return "\n".join(lines)


def adapt_batf(source: Path, out: Path) -> AdaptSummary:
    """Turn the dataset in `source` into a landing folder at `out` (replacing an earlier BATF output there)."""
    started = time.perf_counter()
    source = Path(source)
    products = _read_csv(source / PRODUCTS_FILE, PRODUCT_COLUMNS, key="upc")
    stores = _read_csv(source / STORES_FILE, STORE_COLUMNS, key="store_num")
    sales = _read_transactions(source / TRANSACTIONS_FILE, set(products["upc"]), set(stores["store_num"]))

    first_day = int(sales["week_day"].min())
    last_day = int(sales["week_day"].max())
    first_week, last_week = _epoch_date(first_day), _epoch_date(last_day)
    master_extract_date = last_week + timedelta(days=1)
    sales["week_index"] = (sales["week_day"] - first_day) // 7

    items = _items(products, sales, last_day)
    locations = _locations(stores)
    promotions, skipped = _promotions(sales)
    snapshots = _snapshots(sales, items)

    summary = AdaptSummary(first_week_end=first_week, last_week_end=last_week)
    with staged_landing_dir(Path(out), DATASET) as landing:
        write_extract(landing, ITEMS, master_extract_date, "items", items.drop(columns=["lead_time_weeks"]))
        write_extract(landing, LOCATIONS, master_extract_date, "locations", locations)
        write_extract(landing, PROMOTIONS, master_extract_date, "promotions", promotions)
        summary.files_written = 3
        summary.files_written += write_weekly_extracts(landing, SALES, "sales", _sales_rows(sales), "business_date")
        summary.files_written += write_weekly_extracts(landing, SNAPSHOTS, "snapshots", snapshots, "snapshot_date")
        write_provenance(landing, DATASET, _source_text(source), GENERATED_BY, provenance_columns())
    summary.rows_written = {
        ITEMS.path: len(items),
        LOCATIONS.path: len(locations),
        PROMOTIONS.path: len(promotions),
        SALES.path: len(sales),
        SNAPSHOTS.path: len(snapshots),
    }
    summary.promotions_reconstructed = len(promotions)
    summary.promotions_skipped_no_price = skipped
    summary.seconds = time.perf_counter() - started
    return summary


# --- reading -------------------------------------------------------------------------------


def _read_csv(path: Path, columns: tuple[str, ...], key: str) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (expected the Breakfast at the Frat {path.name})")
    # Everything as text: ids keep their leading zeros, blanks stay blank.
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    frame.columns = [c.strip() for c in frame.columns]
    for column in columns:
        if column not in frame.columns:
            raise ValueError(f"{path}: required column '{column}' is missing")
    frame = frame[list(columns)].apply(lambda s: s.str.strip())
    duplicated = frame[key].duplicated()
    if duplicated.any():
        line = int(np.flatnonzero(duplicated.to_numpy())[0]) + 2
        raise ValueError(f"{path}: line {line}, column '{key}': {frame[key].iloc[line - 2]!r} appears twice")
    return frame


def _read_transactions(path: Path, known_upcs: set[str], known_stores: set[str]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (expected the Breakfast at the Frat transactions)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"{path}: cannot be read as Parquet: {exc}") from exc
    for column in TRANSACTION_COLUMNS:
        if column not in table.column_names:
            raise ValueError(f"{path}: required column '{column}' is missing")
    if table.num_rows == 0:
        raise ValueError(f"{path}: no rows")
    # week_day = week_end_date as days since 1970-01-01: integer weeks arithmetic, fast grouping
    week_day = table.column("week_end_date").cast(pa.date32()).cast(pa.int32())
    frame = table.select([c for c in TRANSACTION_COLUMNS if c != "week_end_date"]).to_pandas()
    frame.insert(0, "week_day", week_day.to_numpy(zero_copy_only=False))
    for column in ("store_num", "upc"):
        frame[column] = frame[column].astype(str).str.strip()

    def fail(mask: np.ndarray | pd.Series, column: str, expected: str) -> None:
        row = int(np.flatnonzero(np.asarray(mask))[0])
        value = frame[column].iloc[row] if column != "week_end_date" else _row_date(frame, row)
        raise ValueError(f"{path}: row {row + 1}, column '{column}': got {value!r}, expected {expected}")

    for column in ("week_day", "store_num", "upc", "units", "spend", "feature", "display", "tpr_only"):
        nulls = frame[column].isna().to_numpy()
        if nulls.any():
            fail(nulls, "week_end_date" if column == "week_day" else column, "a value")
    not_wednesday = (frame["week_day"].to_numpy() + 3) % 7 != WEDNESDAY  # 1970-01-01 was a Thursday
    if not_wednesday.any():
        fail(not_wednesday, "week_end_date", "a Wednesday (the week-ending day)")
    unknown_upc = ~frame["upc"].isin(known_upcs).to_numpy()
    if unknown_upc.any():
        fail(unknown_upc, "upc", f"a upc listed in {PRODUCTS_FILE}")
    unknown_store = ~frame["store_num"].isin(known_stores).to_numpy()
    if unknown_store.any():
        fail(unknown_store, "store_num", f"a store_num listed in {STORES_FILE}")
    duplicated = frame.duplicated(["store_num", "upc", "week_day"]).to_numpy()
    if duplicated.any():
        fail(duplicated, "upc", "one row per store_num × upc × week_end_date")
    # Prices are whole cents; integers keep promo prices and discounts exact.
    frame["spend_cents"] = np.round(frame["spend"].to_numpy() * 100).astype(np.int64)
    frame["price_cents"] = np.round(frame["price"] * 100).astype("Int64")
    frame["base_price_cents"] = np.round(frame["base_price"] * 100).astype("Int64")
    return frame.sort_values(["store_num", "upc", "week_day"], kind="stable").reset_index(drop=True)


# --- entities ------------------------------------------------------------------------------


def _items(products: pd.DataFrame, sales: pd.DataFrame, last_day: int) -> pd.DataFrame:
    """One row per product that occurs in the transactions; costs and logistics by category rules."""
    sold = products[products["upc"].isin(set(sales["upc"]))].sort_values("upc").reset_index(drop=True)
    median_base = sales.groupby("upc")["base_price_cents"].median()
    median_price = sales.groupby("upc")["price_cents"].median()
    last_sold = sales.groupby("upc")["week_day"].max()
    rows = []
    for product in sold.to_dict("records"):
        upc = product["upc"]
        for column in ("description", "manufacturer", "category", "sub_category"):
            if not product[column]:
                raise ValueError(f"{PRODUCTS_FILE}: upc {upc}, column '{column}': empty, expected a value")
        # Base price is missing on a few promoted rows; the median of the shelf price stands in
        # only for an item that never has a base price.
        cents = median_base.get(upc)
        if cents is None or pd.isna(cents):
            cents = median_price.get(upc)
        if cents is None or pd.isna(cents):
            raise ValueError(f"{TRANSACTIONS_FILE}: upc {upc} has neither a base_price nor a price in any row")
        regular_price = (Decimal(repr(float(cents))) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        rules = derive.category_rules(product["category"])
        rows.append(
            {
                "item_id": upc,
                "item_name": product["description"],
                "category": product["category"],
                "subcategory": product["sub_category"],
                "brand": product["manufacturer"],
                "unit_cost": f"{derive.unit_cost_from_margin(float(regular_price), product['category']):.2f}",
                "regular_price": f"{regular_price:.2f}",
                "pack_size": rules.pack_size,
                "moq": rules.moq,
                "supplier_id": product["manufacturer"],
                "lead_time_days": rules.lead_time_days,
                "lead_time_std_days": rules.lead_time_std_days,
                "status": "active" if last_sold[upc] > last_day - 7 * ACTIVE_WEEKS else "inactive",
                "uom": product["product_size"],
                "lead_time_weeks": derive.lead_time_weeks(rules.lead_time_days),
            }
        )
    return pd.DataFrame(rows)


def _locations(stores: pd.DataFrame) -> pd.DataFrame:
    for column in ("store_name", "address_state_prov_code", "seg_value_name"):
        empty = (stores[column] == "").to_numpy()
        if empty.any():
            line = int(np.flatnonzero(empty)[0]) + 2
            raise ValueError(f"{STORES_FILE}: line {line}, column '{column}': empty, expected a value")
    area = pd.to_numeric(stores["sales_area_size_num"].replace("", np.nan), errors="raise")
    return (
        pd.DataFrame(
            {
                "location_id": stores["store_num"],
                "location_name": stores["store_name"],
                "location_type": "store",
                "region": stores["address_state_prov_code"],
                "cluster": stores["seg_value_name"],
                "city": stores["address_city_name"],
                "state": stores["address_state_prov_code"],
                "selling_area_sqft": format_quantity(area.to_numpy(dtype=float)),
            }
        )
        .sort_values("location_id")
        .reset_index(drop=True)
    )


def promoted_weeks(sales: pd.DataFrame) -> np.ndarray:
    """Boolean per row: feature, display or TPR flag set, or price more than 1% under base price."""
    flagged = (sales["feature"] == 1) | (sales["display"] == 1) | (sales["tpr_only"] == 1)
    price, base = sales["price"].to_numpy(dtype=float), sales["base_price"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        cut = np.nan_to_num(price, nan=np.inf) < np.nan_to_num(base, nan=-np.inf) * (1 - derive.TPR_MIN_DEPTH)
    return flagged.to_numpy() | cut


def _promotions(sales: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Runs of consecutive promoted weeks of one store × item with one mechanic → one promotion each."""
    promoted = promoted_weeks(sales)
    feature, display = sales["feature"].to_numpy() == 1, sales["display"].to_numpy() == 1
    mechanic = np.select(
        [feature & display, feature, display], ["feature_display", "feature", "display"], default="tpr"
    )
    series = (sales["store_num"] + "|" + sales["upc"]).to_numpy()
    week = sales["week_index"].to_numpy()
    # Rows are sorted by store, item, week: a row continues the run above it when it is the
    # same series, the very next week, and promoted with the same mechanic.
    continues = np.zeros(len(sales), dtype=bool)
    continues[1:] = (
        (series[1:] == series[:-1]) & (week[1:] - week[:-1] == 1) & promoted[:-1] & (mechanic[1:] == mechanic[:-1])
    )
    run = np.cumsum(promoted & ~continues)
    rows = sales.loc[promoted, ["store_num", "upc", "week_day", "units", "spend_cents", "price_cents"]].copy()
    rows["run"] = run[promoted]
    rows["mechanic"] = mechanic[promoted]
    runs = rows.groupby("run", sort=True).agg(
        location_id=("store_num", "first"),
        item_id=("upc", "first"),
        mechanic=("mechanic", "first"),
        first_day=("week_day", "min"),
        last_day=("week_day", "max"),
        units=("units", "sum"),
        spend_cents=("spend_cents", "sum"),
        price_cents_sum=("price_cents", "sum"),
        price_weeks=("price_cents", "count"),
    )
    promo_prices: list[str | None] = []
    for units, spend_cents, price_sum, price_weeks in zip(
        runs["units"], runs["spend_cents"], runs["price_cents_sum"], runs["price_weeks"], strict=True
    ):
        if units > 0:
            cents = Decimal(int(spend_cents)) / Decimal(int(units))
        elif price_weeks > 0:  # nothing sold: the shelf price (= base × (1 − depth)) stands in
            cents = Decimal(int(price_sum)) / Decimal(int(price_weeks))
        else:
            promo_prices.append(None)
            continue
        promo_prices.append(f"{(cents / 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):.2f}")
    runs["promo_price"] = promo_prices
    skipped = int(runs["promo_price"].isna().sum())
    runs = runs[runs["promo_price"].notna()]
    first_week = pd.Series([_epoch_date(int(d)) for d in runs["first_day"]], index=runs.index)
    promotions = pd.DataFrame(
        {
            "promotion_id": "B"
            + runs["location_id"]
            + "-"
            + runs["item_id"]
            + "-"
            + first_week.map(lambda d: d.strftime("%Y%m%d"))
            + "-"
            + runs["mechanic"],
            "item_id": runs["item_id"],
            "location_id": runs["location_id"],
            "start_date": first_week.map(lambda d: derive.week_start_date(d).isoformat()),
            "end_date": [_epoch_date(int(d)).isoformat() for d in runs["last_day"]],
            "promo_price": runs["promo_price"],
            "mechanic": runs["mechanic"],
            "channel": "store",
            "approval_status": "approved",
        }
    )
    return promotions.sort_values("promotion_id").reset_index(drop=True), skipped


def _sales_rows(sales: pd.DataFrame) -> pd.DataFrame:
    base, price = sales["base_price_cents"], sales["price_cents"]
    # Discount only where both prices are known; a price above base is no discount.
    discount_per_unit = (base - price).clip(lower=0).fillna(0).astype(np.int64).to_numpy()
    discount_cents = sales["units"].to_numpy() * discount_per_unit
    return pd.DataFrame(
        {
            "business_date": _epoch_dates(sales["week_day"].to_numpy()),
            "location_id": sales["store_num"],
            "item_id": sales["upc"],
            "units": sales["units"],
            "net_sales": format_cents(sales["spend_cents"].to_numpy()),
            "discount_amount": format_cents(discount_cents),
            "baskets": sales["visits"].astype("Int64"),
            "period_days": 7,
        }
    )


def _snapshots(sales: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Simulated end-of-week inventory per store × item, from its first to its last week with sales."""
    lead_weeks = dict(zip(items["item_id"], items["lead_time_weeks"], strict=True))
    pack = dict(zip(items["item_id"], items["pack_size"], strict=True))
    series_keys = (sales["store_num"] + "|" + sales["upc"]).to_numpy()
    starts = np.flatnonzero(np.r_[True, series_keys[1:] != series_keys[:-1]])
    ends = np.r_[starts[1:], len(sales)]
    weeks = sales["week_index"].to_numpy()
    units = sales["units"].to_numpy(dtype=float)
    stores, upcs = sales["store_num"].to_numpy(), sales["upc"].to_numpy()
    first_day = int(sales["week_day"].min())
    out_week, out_store, out_item, on_hand, in_transit, on_order = [], [], [], [], [], []
    for start, end in zip(starts, ends, strict=True):
        first, last = weeks[start], weeks[end - 1]
        weekly_units = np.zeros(last - first + 1)
        weekly_units[weeks[start:end] - first] = units[start:end]  # missing weeks sold nothing
        upc = upcs[start]
        lead = int(lead_weeks[upc])
        level = derive.order_up_to_units(float(weekly_units.mean()), lead)
        simulated = derive.simulate_weekly_on_hand(weekly_units.tolist(), level, lead, int(pack[upc]), level)
        out_week.append(np.arange(first, last + 1))
        out_store.append(np.full(len(simulated), stores[start], dtype=object))
        out_item.append(np.full(len(simulated), upc, dtype=object))
        on_hand.extend(w.closing_on_hand for w in simulated)
        in_transit.extend(w.in_transit_units for w in simulated)
        on_order.extend(w.on_order_units for w in simulated)
    return pd.DataFrame(
        {
            "snapshot_date": _epoch_dates(first_day + 7 * np.concatenate(out_week)),
            "location_id": np.concatenate(out_store),
            "item_id": np.concatenate(out_item),
            "on_hand_units": format_quantity(np.array(on_hand)),
            "in_transit_units": format_quantity(np.array(in_transit)),
            "on_order_units": format_quantity(np.array(on_order)),
        }
    )


# --- writing -------------------------------------------------------------------------------


def provenance_columns() -> dict[str, dict[str, dict[str, str]]]:
    """Where every landed column comes from (written to provenance.json)."""
    margin = ", ".join(f"{k} {v:.0%}" for k, v in derive.GROSS_MARGIN_ASSUMPTION.items())
    packs = ", ".join(f"{k} {v}" for k, v in derive.CASE_PACK_ASSUMPTION.items())
    leads = ", ".join(f"{k} {v}" for k, v in derive.LEAD_TIME_DAYS_ASSUMPTION.items())
    lead_std = ", ".join(f"{k} {v}" for k, v in derive.LEAD_TIME_STD_DAYS_ASSUMPTION.items())
    moq = ", ".join(f"{k} {v}" for k, v in derive.MOQ_CASES_ASSUMPTION.items())
    promo = "reconstructed: a run of consecutive promoted weeks (feature, display or tpr_only flag, or price "
    promo += "more than 1% under base_price) of one store × upc with one mechanic"
    policy = (
        f"simulated weekly order-up-to policy per store × upc (docs/derived_data.md): level = ceil(mean weekly units"
        f" × (lead time weeks + {derive.REVIEW_PERIOD_WEEKS} review + {derive.SAFETY_STOCK_WEEKS} safety)), "
        "case-pack orders, observed sales taken as given"
    )
    return {
        ITEMS.path: {
            "item_id": observed("products.upc (as text)"),
            "item_name": observed("products.description"),
            "category": observed("products.category"),
            "subcategory": observed("products.sub_category"),
            "brand": observed("products.manufacturer"),
            "unit_cost": derived(f"regular_price × (1 − assumed gross margin by category: {margin}), to the cent"),
            "regular_price": derived(
                "median of transactions.base_price over all the item's rows (shelf price if no base price), to the cent"
            ),
            "pack_size": derived(f"assumed case pack by category: {packs}"),
            "moq": derived(f"assumed minimum order in cases by category × pack_size: {moq}"),
            "supplier_id": observed("products.manufacturer (the manufacturer stands in as supplier)"),
            "lead_time_days": derived(f"assumed lead time days by category: {leads}"),
            "lead_time_std_days": derived(f"assumed lead time standard deviation by category: {lead_std}"),
            "status": derived(f"'active' if the item sold in any of the last {ACTIVE_WEEKS} weeks, else 'inactive'"),
            "uom": observed("products.product_size as written"),
        },
        LOCATIONS.path: {
            "location_id": observed("stores.store_num (as text)"),
            "location_name": observed("stores.store_name"),
            "location_type": derived("'store' (every Breakfast at the Frat location is a store)"),
            "region": observed("stores.address_state_prov_code"),
            "cluster": observed("stores.seg_value_name"),
            "city": observed("stores.address_city_name"),
            "state": observed("stores.address_state_prov_code"),
            "selling_area_sqft": observed("stores.sales_area_size_num"),
        },
        PROMOTIONS.path: {
            "promotion_id": derived(
                f"{promo}; id = 'B' + store + '-' + upc + '-' + first week_end_date yyyymmdd + '-' + mechanic"
            ),
            "item_id": derived(f"{promo}: its upc"),
            "location_id": derived(f"{promo}: its store_num"),
            "start_date": derived(f"{promo}: first week's week_end_date − 6 days"),
            "end_date": derived(f"{promo}: last week's week_end_date"),
            "promo_price": derived(
                f"{promo}: Σ spend ÷ Σ units over its weeks (mean shelf price if no units), to the cent"
            ),
            "mechanic": derived(
                "feature+display → feature_display, feature → feature, display → display, otherwise tpr"
            ),
            "channel": derived("'store' (store sales only)"),
            "approval_status": derived("'approved' (reconstructed from what ran; not an ERP approval record)"),
        },
        SALES.path: {
            "business_date": observed("transactions.week_end_date (weekly summary)"),
            "location_id": observed("transactions.store_num"),
            "item_id": observed("transactions.upc"),
            "units": observed("transactions.units"),
            "net_sales": observed("transactions.spend"),
            "discount_amount": derived("units × max(0, base_price − price); 0 when either price is missing"),
            "baskets": observed("transactions.visits"),
            "period_days": derived("7 (the data is weekly)"),
        },
        SNAPSHOTS.path: {
            "snapshot_date": derived("week_end_date of each week from the series' first to last week with sales"),
            "location_id": observed("transactions.store_num"),
            "item_id": observed("transactions.upc"),
            "on_hand_units": derived(f"{policy}: closing on-hand (may be negative)"),
            "in_transit_units": derived(f"{policy}: the order received at the start of the next week"),
            "on_order_units": derived(f"{policy}: orders due after next week"),
        },
    }


# --- small helpers -------------------------------------------------------------------------


def _epoch_date(days: int) -> date:
    return date(1970, 1, 1) + timedelta(days=days)


def _epoch_dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 → date objects (looked up once per distinct week)."""
    lookup = {int(d): _epoch_date(int(d)) for d in np.unique(days)}
    return np.array([lookup[int(d)] for d in days], dtype=object)


def _row_date(frame: pd.DataFrame, row: int) -> str | None:
    value = frame["week_day"].iloc[row]
    return None if pd.isna(value) else _epoch_date(int(value)).isoformat()


def _source_text(source: Path) -> str:
    return (
        "dunnhumby 'Breakfast at the Frat' (weekly store × UPC sales 2009-2012), via the salesforecastr R "
        f"package's converted files: {source.name}/{TRANSACTIONS_FILE}, {PRODUCTS_FILE}, {STORES_FILE}"
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m ingestion.adapters.batf SOURCE OUT`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path, help="folder with transactions.parquet, products.csv, stores.csv")
    parser.add_argument("out", type=Path, help="landing folder to write")
    args = parser.parse_args(argv)
    print(adapt_batf(args.source, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
