"""FreshRetailNet adapter: derived values checked by hand on a tiny daily file (real data: test_real_data_ingestion)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.adapters.freshretailnet import DAILY_FILE, adapt_freshretailnet, simulate_daily_on_hand
from ingestion.contract import ENTITIES
from ingestion.loader import conservation_report, load_entity

FIRST_DAY = date(2024, 3, 28)


def _hours(out_of_stock: int) -> list[int]:
    return [1] * out_of_stock + [0] * (24 - out_of_stock)


def _write_source(folder: Path) -> None:
    """2 stores × 2 products × 4 days. Store 7, product 38 is the series worked out in the tests."""
    rows = []
    sales = {(7, 38): [1.0, 2.0, 0.0, 1.0], (7, 39): [0.3, 0.5, 0.2, 0.2],
             (8, 38): [4.1, 0.0, 0.0, 1.5], (8, 39): [1.0, 1.0, 1.0, 1.0]}
    discount = {(7, 38): [0.8, 0.9, 1.0, 1.0]}
    activity = {(7, 38): [1, 1, 0, 1]}
    for (store, product), units in sales.items():
        for day, sold in enumerate(units):
            rows.append(dict(
                city_id=3 if store == 7 else 4, store_id=store, management_group_id=2, first_category_id=12,
                second_category_id=5 if product == 38 else 6, third_category_id=1, product_id=product,
                dt=FIRST_DAY + timedelta(days=day), sale_amount=sold, hours_sale=[0.0] * 24,
                stock_hour6_22_cnt=0, hours_stock_status=_hours(day + (store == 8)),
                discount=discount.get((store, product), [1.0] * 4)[day],
                holiday_flag=0, activity_flag=activity.get((store, product), [0] * 4)[day],
                precpt=0.0, avg_temperature=15.0, avg_humidity=70.0, avg_wind_level=1.0,
            ))
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    table = table.set_column(table.schema.get_field_index("hours_stock_status"), "hours_stock_status",
                             pa.array([r["hours_stock_status"] for r in rows], pa.list_(pa.int8())))
    pq.write_table(table, folder / DAILY_FILE)


@pytest.fixture
def adapted(tmp_path: Path) -> Path:
    _write_source(tmp_path / "source")
    summary = adapt_freshretailnet(tmp_path / "source", tmp_path / "landing")
    assert summary.files_written == 3 + 2 * 4
    assert summary.rows_written["pos/sales"] == 16 and summary.rows_written["erp/promotions"] == 2
    return tmp_path / "landing"


def test_daily_simulation_by_hand() -> None:
    # Sales 1, 2, 0, 1 (mean 1): order-up-to 4 = mean × (1 lead + 1 review + 2 safety days). Day 0 closes
    # at 3 and orders 1 (arrives day 2); day 1 closes at 1, orders 4 − (1 + 1) = 2 (arrives day 3); day 2
    # receives 1 → 2, nothing ordered; day 3 receives 2 → 4 − 1 = 3.
    closing, in_transit, on_order = simulate_daily_on_hand(np.array([[1.0, 2.0, 0.0, 1.0]]), np.array([4.0]), 1, 1)
    assert closing.tolist() == [[3.0, 1.0, 2.0, 3.0]]
    assert in_transit.tolist() == [[0.0, 1.0, 2.0, 0.0]]
    assert on_order.tolist() == [[0.0, 0.0, 0.0, 0.0]]
    # With a 2-day lead time the day-0 order (1 unit) arrives on day 3: at the end of day 1 it is on
    # order, not yet in transit (in transit = arriving tomorrow).
    closing, in_transit, on_order = simulate_daily_on_hand(np.array([[1.0, 1.0, 1.0]]), np.array([5.0]), 2, 1)
    assert (in_transit[0, 1], on_order[0, 1]) == (0.0, 1.0)
    assert (in_transit[0, 2], on_order[0, 2]) == (1.0, 1.0)  # day 1 ordered 1 more (arrives day 4)


def test_extracts_hold_the_observed_values_and_the_stated_derivations(adapted: Path) -> None:
    items = duckdb.sql(f"select item_id, regular_price, unit_cost, sold_by_weight, pack_size "
                       f"from read_parquet('{adapted}/erp/items/2024-03-28/items.parquet') order by 1").fetchall()
    assert items == [("38", Decimal("10.00"), Decimal("7.00"), True, 1),
                     ("39", Decimal("10.00"), Decimal("7.00"), True, 1)]
    # Store 7, product 38, day 0: 1 unit at discount ratio 0.8 → net 8.00, discount 2.00.
    sale = duckdb.sql(f"select units, net_sales, discount_amount, period_days from "
                      f"read_parquet('{adapted}/pos/sales/2024-03-29/sales_2024-03-28.parquet') "
                      "where location_id = '7' and item_id = '38'").fetchall()
    assert sale == [(1.0, Decimal("8.00"), Decimal("2.00"), 1)]
    # Day 2 (2024-03-30): store 7 was out of stock 2 hours, store 8 three (see _write_source).
    stock = duckdb.sql(f"select location_id, item_id, stockout_hours, on_hand_units from "
                       f"read_parquet('{adapted}/inventory/snapshots/2024-03-31/snapshots_2024-03-30.parquet') "
                       "order by all").fetchall()
    assert [(s[0], s[1], s[2]) for s in stock] == [("7", "38", 2.0), ("7", "39", 2.0), ("8", "38", 3.0),
                                                   ("8", "39", 3.0)]
    assert stock[0][3] == 2.0  # the simulation worked out in test_daily_simulation_by_hand
    # Activity flags 1, 1, 0, 1: two promotions; discount ratios 0.8, 0.9 → 8.50 (tpr); 1.0 → 10.00 (display).
    promotions = duckdb.sql(f"select promotion_id, start_date, end_date, promo_price, mechanic from "
                            f"read_parquet('{adapted}/erp/promotions/2024-03-28/promotions.parquet')").fetchall()
    assert promotions == [
        ("F7-38-20240328", date(2024, 3, 28), date(2024, 3, 29), Decimal("8.50"), "tpr"),
        ("F7-38-20240331", date(2024, 3, 31), date(2024, 3, 31), Decimal("10.00"), "display"),
    ]
    provenance = json.loads((adapted / "provenance.json").read_text())
    assert provenance["dataset"] == "freshretailnet_50k"
    assert provenance["entities"]["pos/sales"]["columns"]["units"]["origin"] == "observed"
    assert provenance["entities"]["pos/sales"]["columns"]["net_sales"]["origin"] == "derived"
    assert provenance["entities"]["inventory/snapshots"]["columns"]["stockout_hours"]["origin"] == "observed"
    assert provenance["entities"]["inventory/snapshots"]["columns"]["on_hand_units"]["origin"] == "derived"


def test_extracts_load_without_a_quarantined_row(adapted: Path) -> None:
    con = duckdb.connect()
    for entity in ENTITIES:
        result = load_entity(con, adapted, entity, "frn")
        assert result.rows_quarantined == 0 and result.files_rejected == 0, entity.path
        assert conservation_report(con, entity).holds
    counts = dict(con.execute("select entity, sum(rows_loaded) from ops.file_registry group by 1").fetchall())
    assert counts == {"erp/items": 2, "erp/locations": 2, "erp/promotions": 2, "pos/sales": 16,
                      "inventory/snapshots": 16}


def test_same_input_gives_the_same_bytes(adapted: Path, tmp_path: Path) -> None:
    again = adapt_freshretailnet(tmp_path / "source", tmp_path / "again")
    assert again.files_written == 11

    def digests(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in root.rglob("*") if p.is_file()}

    assert digests(adapted) == digests(tmp_path / "again")


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    folder.mkdir()
    pq.write_table(pa.table({"store_id": [1]}), folder / DAILY_FILE)
    with pytest.raises(ValueError, match=r"frn50k_train_daily.parquet: column 'city_id' is missing"):
        adapt_freshretailnet(folder, tmp_path / "landing")
    with pytest.raises(FileNotFoundError, match="missing"):
        adapt_freshretailnet(tmp_path / "nowhere", tmp_path / "landing")
