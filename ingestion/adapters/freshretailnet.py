"""FreshRetailNet-50K (Dingdong) → landing extracts: items, locations, promotions, daily POS sales, daily snapshots.

The dataset (`frn50k_train_daily.parquet`, see ../shared/data/freshretailnet_50k/SOURCE.md) holds
90 days of daily store × product fresh-food sales for 50,000 series, with a promotion (activity)
flag, a discount ratio and 24 hourly stock-out flags. It has no prices, costs, on-hand
quantities, names or promotion records: those are derived by the rules below (docs/freshretailnet.md)
and marked "derived" in provenance.json. Observed values are passed through unchanged.

Extracts are Parquet (4.5 million rows a day would be 90 CSV files of ~3 MB; Parquet keeps them
typed and small): one POS and one inventory extract per day, dated the day after the business
day; master data and promotions as one extract dated the first day, so they load before the sales
that reference them.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.contract import ITEMS, LOCATIONS, PROMOTIONS, SALES, SNAPSHOTS, extract_path
from ingestion.provenance import derived, observed, staged_landing_dir, write_provenance

DATASET = "freshretailnet_50k"
ADAPTER_VERSION = "1.0.0"
GENERATED_BY = f"ingestion.adapters.freshretailnet {ADAPTER_VERSION}"
DAILY_FILE = "frn50k_train_daily.parquet"
SOURCE_COLUMNS = (
    "city_id", "store_id", "management_group_id", "first_category_id", "second_category_id", "product_id", "dt",
    "sale_amount", "hours_stock_status", "discount", "activity_flag",
)

# --- assumptions (the dataset has no prices, costs, inventory or ordering terms) ----------------
# Sales are desensitised quantities without a stated unit or price: every product is given the
# same regular price per unit, so money columns are proportional to the observed quantities.
REGULAR_PRICE_ASSUMPTION = Decimal("10.00")
GROSS_MARGIN_ASSUMPTION = Decimal("0.30")
# Fresh food is delivered daily from the DC: ordered in the morning, on the shelf the next day.
LEAD_TIME_DAYS_ASSUMPTION = 1
LEAD_TIME_STD_DAYS_ASSUMPTION = 0.5
REVIEW_PERIOD_DAYS = 1
SAFETY_STOCK_DAYS = 2
# Quantities come in 0.1 steps: the products sell by weight, ordered in steps of one unit.
ORDER_STEP_UNITS = 1
# Average discount ratio below which a promotion is a temporary price reduction (else a display).
TPR_MAX_DISCOUNT_RATIO = 0.99


@dataclass
class AdaptSummary:
    """What adapt_freshretailnet wrote."""

    rows_written: dict[str, int] = field(default_factory=dict)
    files_written: int = 0
    first_day: date | None = None
    last_day: date | None = None
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"FreshRetailNet-50K → landing: {self.files_written} files in {self.seconds:.1f} s"]
        lines += [f"  {entity}: {rows} rows" for entity, rows in self.rows_written.items()]
        lines.append(f"  business days {self.first_day} .. {self.last_day}")
        return "\n".join(lines)


def adapt_freshretailnet(source: Path, out: Path) -> AdaptSummary:
    """Turn `source/frn50k_train_daily.parquet` into a landing folder at `out` (replacing an earlier output there)."""
    started = time.perf_counter()
    path = Path(source) / DAILY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (expected the FreshRetailNet-50K daily train split)")
    missing = [c for c in SOURCE_COLUMNS if c not in pq.read_schema(path).names]
    if missing:
        raise ValueError(f"{path}: column {missing[0]!r} is missing (expected {', '.join(SOURCE_COLUMNS)})")
    con = duckdb.connect()
    try:
        _stage(con, path)
        first_day, last_day = con.execute("select min(dt), max(dt) from frn").fetchall()[0]
        summary = AdaptSummary(first_day=first_day, last_day=last_day)
        with staged_landing_dir(Path(out), DATASET) as landing:
            master_date = first_day
            summary.rows_written[ITEMS.path] = _write(con, landing, ITEMS, master_date, "items", _items_sql())
            summary.rows_written[LOCATIONS.path] = _write(con, landing, LOCATIONS, master_date, "locations",
                                                          _locations_sql())
            summary.rows_written[PROMOTIONS.path] = _write(con, landing, PROMOTIONS, master_date, "promotions",
                                                           _promotions_sql())
            summary.files_written = 3
            _simulate_on_hand(con)
            days = [d for (d,) in con.execute("select distinct dt from frn order by 1").fetchall()]
            summary.rows_written[SALES.path] = 0
            summary.rows_written[SNAPSHOTS.path] = 0
            for day in days:
                extract_date = day + timedelta(days=1)
                summary.rows_written[SALES.path] += _write(
                    con, landing, SALES, extract_date, f"sales_{day.isoformat()}", _sales_sql(), [day])
                summary.rows_written[SNAPSHOTS.path] += _write(
                    con, landing, SNAPSHOTS, extract_date, f"snapshots_{day.isoformat()}", _snapshots_sql(), [day])
                summary.files_written += 2
            write_provenance(landing, DATASET, _source_text(path), GENERATED_BY, provenance_columns())
    finally:
        con.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _stage(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """The source rows with the columns the rules use; stock-out hours = hours flagged out of stock that day."""
    con.execute(
        """create table frn as
           select cast(store_id as varchar) as location_id, cast(product_id as varchar) as item_id,
                  city_id, management_group_id, first_category_id, second_category_id, dt,
                  sale_amount, discount, activity_flag,
                  cast(list_sum(hours_stock_status) as double) as stockout_hours
           from read_parquet(?)
           order by store_id, product_id, dt""",
        [str(path)],
    )
    duplicates = con.execute(
        "select location_id, item_id, dt from frn group by all having count(*) > 1 limit 1").fetchall()
    if duplicates:
        raise ValueError(f"{path}: store {duplicates[0][0]}, product {duplicates[0][1]} appears twice on "
                         f"{duplicates[0][2]} (expected one row per store × product × day)")


def _write(con: duckdb.DuckDBPyConnection, landing: Path, entity, extract_date: date, name: str, sql: str,
           params: list | None = None) -> int:
    table = con.sql(sql, params=params or None).to_arrow_table()
    target = extract_path(landing, entity, extract_date, name, ".parquet")
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target, compression="zstd")
    return table.num_rows


def _items_sql() -> str:
    cost = REGULAR_PRICE_ASSUMPTION * (1 - GROSS_MARGIN_ASSUMPTION)
    return f"""
        select item_id,
               'FRN product ' || item_id as item_name,
               cast(any_value(first_category_id) as varchar) as category,
               cast(any_value(second_category_id) as varchar) as subcategory,
               'management group ' || any_value(management_group_id) as brand,
               cast({cost} as decimal(18, 2)) as unit_cost,
               cast({REGULAR_PRICE_ASSUMPTION} as decimal(18, 2)) as regular_price,
               {ORDER_STEP_UNITS} as pack_size, {ORDER_STEP_UNITS} as moq,
               'MG' || any_value(management_group_id) as supplier_id,
               {LEAD_TIME_DAYS_ASSUMPTION} as lead_time_days,
               {LEAD_TIME_STD_DAYS_ASSUMPTION} as lead_time_std_days,
               'active' as status, 'unit (desensitised)' as uom, true as sold_by_weight
        from frn group by item_id order by cast(item_id as integer)"""


def _locations_sql() -> str:
    return """
        select location_id, 'FRN store ' || location_id as location_name, 'store' as location_type,
               'city ' || any_value(city_id) as region, 'city ' || any_value(city_id) as "cluster",
               cast(any_value(city_id) as varchar) as city
        from frn group by location_id order by cast(location_id as integer)"""


def _promotions_sql() -> str:
    price = REGULAR_PRICE_ASSUMPTION
    return f"""
        with flagged as (
            select location_id, item_id, dt, discount, activity_flag,
                   -- a new run starts on a flagged day whose previous day is not flagged
                   sum(case when activity_flag = 1 and coalesce(previous_flag, 0) = 0 then 1 else 0 end)
                       over (partition by location_id, item_id order by dt) as run_number
            from (select *, lag(activity_flag) over (partition by location_id, item_id order by dt) as previous_flag
                  from frn)
        ),
        runs as (
            select location_id, item_id, run_number, min(dt) as start_date, max(dt) as end_date,
                   avg(discount) as mean_discount
            from flagged where activity_flag = 1
            group by all
        )
        select 'F' || location_id || '-' || item_id || '-' || strftime(start_date, '%Y%m%d') as promotion_id,
               item_id, location_id, start_date, end_date,
               cast(round({price} * mean_discount, 2) as decimal(18, 2)) as promo_price,
               case when mean_discount < {TPR_MAX_DISCOUNT_RATIO} then 'tpr' else 'display' end as mechanic,
               'store' as channel, 'approved' as approval_status
        from runs
        order by cast(location_id as integer), cast(item_id as integer), start_date"""


def _sales_sql() -> str:
    price = REGULAR_PRICE_ASSUMPTION
    return f"""
        select dt as business_date, location_id, item_id, sale_amount as units,
               cast(round(sale_amount * {price} * discount, 2) as decimal(18, 2)) as net_sales,
               cast(round(sale_amount * {price} * greatest(0, 1 - discount), 2) as decimal(18, 2)) as discount_amount,
               1 as period_days
        from frn where dt = ?
        order by cast(location_id as integer), cast(item_id as integer)"""


def _snapshots_sql() -> str:
    return """
        select f.dt as snapshot_date, f.location_id, f.item_id, s.on_hand_units, s.in_transit_units,
               s.on_order_units, f.stockout_hours
        from frn f join simulated s using (location_id, item_id, dt)
        where f.dt = ?
        order by cast(f.location_id as integer), cast(f.item_id as integer)"""


def simulate_daily_on_hand(units_sold: np.ndarray, order_up_to: np.ndarray, lead_time_days: int,
                           order_step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A daily periodic-review order-up-to policy, every series at once (rows: series, columns: days).

    Within day t: (1) the order due arrives at the start of the day; (2) the day's sales (taken as
    given, so on-hand may go negative) are deducted; (3) the end-of-day snapshot: closing on-hand,
    the order arriving tomorrow (in transit), later orders (on order); (4) the order placed is
    max(0, order_up_to − (on-hand + outstanding)), rounded up to `order_step`; it arrives at the
    start of day t + lead_time_days + 1. The shelf starts at order_up_to with nothing on order.
    Returns (on_hand, in_transit, on_order), each rounded to 0.1 (the data's step).
    """
    series, days = units_sold.shape
    horizon = days + lead_time_days + 2
    arriving = np.zeros((series, horizon))
    on_hand = order_up_to.astype(float).copy()
    closing = np.zeros((series, days))
    in_transit = np.zeros((series, days))
    on_order = np.zeros((series, days))
    for day in range(days):
        on_hand = on_hand + arriving[:, day] - units_sold[:, day]
        arriving[:, day] = 0.0
        outstanding = arriving[:, day + 1:].sum(axis=1)
        closing[:, day] = on_hand
        in_transit[:, day] = arriving[:, day + 1]
        on_order[:, day] = outstanding - arriving[:, day + 1]
        shortfall = order_up_to - (on_hand + outstanding)
        order = np.where(shortfall > 0, np.ceil(np.round(shortfall / order_step, 9)) * order_step, 0.0)
        arriving[:, day + lead_time_days + 1] += order
    return tuple(np.round(a, 1) for a in (closing, in_transit, on_order))  # type: ignore[return-value]


def _simulate_on_hand(con: duckdb.DuckDBPyConnection) -> None:
    """`simulated`: derived on-hand, in-transit and on-order per store × product × day."""
    frame = con.execute("select location_id, item_id, dt, sale_amount from frn order by location_id, item_id, dt").df()
    days = frame["dt"].nunique()
    series = len(frame) // days
    if series * days != len(frame):
        raise ValueError("FreshRetailNet: every store × product must have a row for every day")
    sold = frame["sale_amount"].to_numpy(dtype=float).reshape(series, days)
    cover_days = LEAD_TIME_DAYS_ASSUMPTION + REVIEW_PERIOD_DAYS + SAFETY_STOCK_DAYS
    order_up_to = np.ceil(np.round(sold.mean(axis=1) * cover_days * 10, 9)) / 10
    closing, in_transit, on_order = simulate_daily_on_hand(sold, order_up_to, LEAD_TIME_DAYS_ASSUMPTION,
                                                           ORDER_STEP_UNITS)
    simulated = pa.table({
        "location_id": frame["location_id"].to_numpy(dtype=object),
        "item_id": frame["item_id"].to_numpy(dtype=object),
        "dt": pa.array(frame["dt"].dt.date.to_numpy(), pa.date32()),
        "on_hand_units": closing.reshape(-1),
        "in_transit_units": in_transit.reshape(-1),
        "on_order_units": on_order.reshape(-1),
    })
    con.register("simulated_arrow", simulated)
    con.execute("create table simulated as select * from simulated_arrow")
    con.unregister("simulated_arrow")


def provenance_columns() -> dict[str, dict[str, dict[str, str]]]:
    """Where every landed column comes from (written to provenance.json)."""
    price = f"assumed regular price {REGULAR_PRICE_ASSUMPTION} per unit for every product (no prices in the data)"
    policy = (f"simulated daily order-up-to policy per store × product (docs/freshretailnet.md): level = mean daily "
              f"units × ({LEAD_TIME_DAYS_ASSUMPTION} lead + {REVIEW_PERIOD_DAYS} review + {SAFETY_STOCK_DAYS} safety "
              "days), observed sales taken as given")
    run = "a run of consecutive days with activity_flag = 1 of one store × product"
    return {
        ITEMS.path: {
            "item_id": observed("product_id (as text)"),
            "item_name": derived("'FRN product ' + product_id (the data has no names)"),
            "category": observed("first_category_id (as text)"),
            "subcategory": observed("second_category_id (as text)"),
            "brand": derived("'management group ' + management_group_id (the data has no brands)"),
            "unit_cost": derived(f"regular_price × (1 − assumed gross margin {GROSS_MARGIN_ASSUMPTION})"),
            "regular_price": derived(price),
            "pack_size": derived(f"{ORDER_STEP_UNITS}: sold by weight, ordered in steps of one unit"),
            "moq": derived(f"{ORDER_STEP_UNITS}"),
            "supplier_id": derived("'MG' + management_group_id (the management group stands in as supplier)"),
            "lead_time_days": derived(f"assumed {LEAD_TIME_DAYS_ASSUMPTION} (fresh food, daily DC delivery)"),
            "lead_time_std_days": derived(f"assumed {LEAD_TIME_STD_DAYS_ASSUMPTION}"),
            "status": derived("'active' (every product sells in the 90 days)"),
            "uom": derived("'unit (desensitised)': the data does not state its unit"),
            "sold_by_weight": derived("true: sale_amount comes in 0.1 steps (fresh food by weight)"),
        },
        LOCATIONS.path: {
            "location_id": observed("store_id (as text)"),
            "location_name": derived("'FRN store ' + store_id (the data has no names)"),
            "location_type": derived("'store' (every location sells)"),
            "region": derived("'city ' + city_id"),
            "cluster": derived("'city ' + city_id (no store clusters in the data)"),
            "city": observed("city_id (as text)"),
        },
        PROMOTIONS.path: {
            "promotion_id": derived(f"{run}; id = 'F' + store + '-' + product + '-' + first day yyyymmdd"),
            "item_id": derived(f"{run}: its product_id"),
            "location_id": derived(f"{run}: its store_id"),
            "start_date": derived(f"{run}: its first day"),
            "end_date": derived(f"{run}: its last day"),
            "promo_price": derived(f"{run}: regular_price × mean discount ratio over its days, to the cent"),
            "mechanic": derived(f"'tpr' when the mean discount ratio is below {TPR_MAX_DISCOUNT_RATIO}, else "
                                "'display' (an activity without a price cut)"),
            "channel": derived("'store'"),
            "approval_status": derived("'approved' (reconstructed from what ran; not an ERP approval record)"),
        },
        SALES.path: {
            "business_date": observed("dt"),
            "location_id": observed("store_id"),
            "item_id": observed("product_id"),
            "units": observed("sale_amount (desensitised quantity, 0.1 steps)"),
            "net_sales": derived(f"units × regular price × discount ratio (as shipped), to the cent; {price}"),
            "discount_amount": derived("units × regular price × max(0, 1 − discount ratio), to the cent"),
            "period_days": derived("1 (daily data)"),
        },
        SNAPSHOTS.path: {
            "snapshot_date": observed("dt"),
            "location_id": observed("store_id"),
            "item_id": observed("product_id"),
            "on_hand_units": derived(f"{policy}: closing on-hand (may be negative; independent of the observed "
                                     "stock-out hours)"),
            "in_transit_units": derived(f"{policy}: the order arriving the next morning"),
            "on_order_units": derived(f"{policy}: orders due later"),
            "stockout_hours": observed("number of the 24 hours_stock_status flags equal to 1"),
        },
    }


def _source_text(path: Path) -> str:
    return (f"FreshRetailNet-50K (Dingdong Inc., CC-BY-4.0), train split reconstructed to one row per store × "
            f"product × day: {path.parent.name}/{path.name}")


def main(argv: list[str] | None = None) -> int:
    """`python -m ingestion.adapters.freshretailnet SOURCE OUT`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path, help=f"folder with {DAILY_FILE}")
    parser.add_argument("out", type=Path, help="landing folder to write")
    args = parser.parse_args(argv)
    print(adapt_freshretailnet(args.source, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
