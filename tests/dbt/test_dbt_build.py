"""`dbt build` on a small hand-made warehouse, checking mart values computed by hand.

The warehouse holds raw.* tables typed by the landing contract (plus load metadata) and
forecast.* tables shaped like the forecasting step's output. Calendar: weeks end on
Wednesday; W1 = 2024-01-03, W2 = 01-10, W3 = 01-17, W4 = 01-24, W5 = 01-31 (the latest
snapshot), horizon W6 = 02-07 … W10 = 03-06. Every expected number below is worked out in
the comment next to it from the rows in this file, not read from the models' output.
"""

from __future__ import annotations

import gc
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.contract import ENTITIES, ITEMS, LOCATIONS, PROMOTIONS, SALES, SNAPSHOTS, Entity

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

W = {n: date(2024, 1, 3) + timedelta(days=7 * (n - 1)) for n in range(1, 11)}
I1, I2 = "I1", "007"  # I2 keeps its leading zeros
S1, S2 = "S1", "S2"

LOAD_METADATA = "_file VARCHAR, _extract_date DATE, _load_id VARCHAR, _loaded_at TIMESTAMP, _row_number BIGINT"


def _item(item_id: str, cost: str, price: str, lead_time: int) -> dict[str, Any]:
    return dict(
        item_id=item_id,
        item_name=f"item {item_id}",
        category="cereal",
        subcategory="cold",
        brand="b",
        unit_cost=Decimal(cost),
        regular_price=Decimal(price),
        pack_size=6,
        moq=12,
        supplier_id="V1",
        lead_time_days=lead_time,
    )


def _sale(week: int, location_id: str, item_id: str, units: float, net: str, discount: str = "0") -> dict[str, Any]:
    return dict(
        business_date=W[week],
        location_id=location_id,
        item_id=item_id,
        units=units,
        net_sales=Decimal(net),
        discount_amount=Decimal(discount),
        period_days=7,
    )


def _snapshot(day: date, location_id: str, item_id: str, on_hand: float, **optional: float) -> dict[str, Any]:
    return dict(snapshot_date=day, location_id=location_id, item_id=item_id, on_hand_units=on_hand, **optional)


def _promotion(
    promotion_id: str,
    item_id: str,
    location_id: str,
    start: date,
    end: date,
    promo_price: str,
    status: str = "approved",
    **optional: Any,
) -> dict[str, Any]:
    return dict(
        promotion_id=promotion_id,
        item_id=item_id,
        location_id=location_id,
        start_date=start,
        end_date=end,
        promo_price=Decimal(promo_price),
        mechanic="tpr",
        channel="all",
        approval_status=status,
        **optional,
    )


# (extract_date, rows) per entity; later extracts restate earlier ones key by key.
RAW: dict[Entity, list[tuple[date, list[dict[str, Any]]]]] = {
    ITEMS: [
        (date(2024, 1, 1), [_item(I1, "1.50", "4.00", 7)]),  # superseded by the next extract
        (date(2024, 1, 31), [_item(" I1 ", "2.00", "5.00", 7), _item(I2, "1.00", "3.00", 14)]),
    ],
    LOCATIONS: [
        (
            date(2024, 1, 1),
            [
                dict(location_id=S1, location_name="Store 1", location_type="store", region="R", cluster="C"),
                dict(location_id=S2, location_name="Store 2", location_type="store", region="R", cluster="C"),
            ],
        ),
    ],
    PROMOTIONS: [
        (
            date(2024, 1, 1),
            [
                # first version of P1, restated below with promo price 4.00
                _promotion("P1", I1, "*", date(2024, 1, 5), date(2024, 1, 9), "4.50"),
            ],
        ),
        (
            date(2024, 1, 2),
            [
                # Fri 01-05 … Tue 01-09 lies inside W2; '*' expands to S1 and S2
                _promotion(
                    "P1",
                    I1,
                    "*",
                    date(2024, 1, 5),
                    date(2024, 1, 9),
                    "4.00",
                    vendor_funding_per_unit=Decimal("0.50"),
                    funding_type="scan_back",
                    lump_sum_funding=Decimal("10.00"),
                ),
                # Wed 01-10 … Fri 01-12 touches W2 (shared with P1) and W3
                _promotion("P3", I1, S1, date(2024, 1, 10), date(2024, 1, 12), "4.50"),
                # Wed 01-17 … Wed 01-24 touches W3 and W4; funding covers the whole discount
                _promotion(
                    "P2",
                    I2,
                    S1,
                    date(2024, 1, 17),
                    date(2024, 1, 24),
                    "2.00",
                    vendor_funding_per_unit=Decimal("1.00"),
                    funding_type="scan_back",
                ),
                # not approved: never makes a week promoted
                _promotion("P4", I1, S1, date(2024, 1, 18), date(2024, 1, 24), "3.00", status="pending"),
            ],
        ),
    ],
    SALES: [
        (date(2024, 1, 10), [_sale(1, S1, I1, 9, "45.00")]),  # restated by the next extract
        (
            date(2024, 2, 1),
            [
                _sale(1, S1, I1, 10, "50.00"),
                _sale(2, S1, I1, 20, "80.00", "20.00"),
                _sale(3, S1, I1, 12, "60.00"),
                _sale(4, S1, I1, 8, "40.00"),
                _sale(5, S1, I1, 6, "30.00"),
                _sale(3, S1, I2, 10, "20.00", "10.00"),
                _sale(4, S1, I2, 5, "10.00", "5.00"),
                _sale(1, S2, I2, 0, "0.00"),
            ],
        ),
    ],
    SNAPSHOTS: [
        (
            date(2024, 2, 1),
            [
                _snapshot(W[1], S1, I1, 40),
                _snapshot(date(2024, 1, 8), S1, I1, 34),  # Monday of W2
                _snapshot(W[2], S1, I1, 30),
                _snapshot(W[3], S1, I1, 0),
                _snapshot(W[4], S1, I1, 20),
                _snapshot(W[5], S1, I1, 25, in_transit_units=5, on_order_units=10),
                _snapshot(W[5], S1, I2, 5),
                _snapshot(W[1], S2, I2, 0),
            ],
        ),
    ],
}

# forecast.demand_weekly: (item, location, week) → (actual, predicted, baseline)
DEMAND_FORECAST = {
    (I1, S1, 1): (10, 10, 10),
    (I1, S1, 2): (20, 19, 12),
    (I1, S1, 3): (12, 12, 13),
    (I1, S1, 4): (8, 9, 9),
    (I1, S1, 5): (6, 7, 7),
    (I1, S1, 6): (None, 14, 14),
    (I1, S1, 7): (None, 14, 14),
    (I1, S1, 8): (None, 7, 7),
    (I1, S1, 9): (None, 7, 7),
    (I1, S1, 10): (None, 100, 100),
    (I2, S1, 3): (10, 9, 6),
    (I2, S1, 4): (5, 5, 4),
}
REPLENISHMENT_TARGETS = {(I1, S1): (21.0, 3.0), (I2, S1): (10.0, 2.0)}  # protection forecast, safety stock


def _create_raw(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema raw")
    for entity in ENTITIES:
        columns = ", ".join(f"{c.name} {c.type}" for c in entity.columns)
        con.execute(f"create table raw.{entity.name} ({columns}, {LOAD_METADATA})")
        for extract_date, rows in RAW.get(entity, []):
            load_id = f"load-{extract_date.isoformat()}"
            for row_number, row in enumerate(rows, start=2):  # header is line 1
                values = [row.get(name) for name in entity.column_names] + [
                    f"{entity.path}/{extract_date}/extract.csv",
                    extract_date,
                    load_id,
                    datetime.combine(extract_date, datetime.min.time()),
                    row_number,
                ]
                marks = ", ".join("?" for _ in values)
                con.execute(f"insert into raw.{entity.name} values ({marks})", values)


def _create_forecast(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema forecast")
    con.execute("""
        create table forecast.demand_weekly (
            item_id VARCHAR, location_id VARCHAR, week_end_date DATE, is_history BOOLEAN,
            actual_units DOUBLE, predicted_units DOUBLE, baseline_units DOUBLE,
            predicted_lower DOUBLE, predicted_upper DOUBLE, method VARCHAR, model_version VARCHAR)
    """)
    for (item_id, location_id, week), (actual, predicted, baseline) in DEMAND_FORECAST.items():
        con.execute(
            "insert into forecast.demand_weekly values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'prophet', 'v1')",
            [
                item_id,
                location_id,
                W[week],
                actual is not None,
                actual,
                predicted,
                baseline,
                predicted * 0.8,
                predicted * 1.2,
            ],
        )
    con.execute("""
        create table forecast.promotion_uplift (
            promotion_id VARCHAR, item_id VARCHAR, location_id VARCHAR, start_date DATE, end_date DATE,
            promo_weeks INTEGER, predicted_units DOUBLE, baseline_units DOUBLE, uplift_units DOUBLE,
            uplift_pct DOUBLE, uplift_lower DOUBLE, uplift_upper DOUBLE, method VARCHAR, model_version VARCHAR)
    """)
    con.execute("""
        create table forecast.replenishment_targets (
            item_id VARCHAR, location_id VARCHAR, as_of_date DATE, lead_time_days INTEGER,
            review_period_days INTEGER, protection_period_days INTEGER, forecast_lead_time_units DOUBLE,
            forecast_protection_units DOUBLE, sigma_protection_units DOUBLE, service_level DOUBLE,
            z_value DOUBLE, safety_stock_units DOUBLE, reorder_point_units DOUBLE,
            order_up_to_units DOUBLE, inventory_position_units DOUBLE, pack_size INTEGER, moq INTEGER,
            suggested_order_units DOUBLE, method VARCHAR, model_version VARCHAR)
    """)
    for (item_id, location_id), (protection, safety) in REPLENISHMENT_TARGETS.items():
        con.execute(
            """insert into forecast.replenishment_targets
               (item_id, location_id, as_of_date, forecast_protection_units, safety_stock_units)
               values (?, ?, ?, ?, ?)""",
            [item_id, location_id, W[5], protection, safety],
        )


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the hand-made warehouse and run `dbt build` on it once for the module."""
    from dbt.cli.main import dbtRunner

    tmp = tmp_path_factory.mktemp("dbt_build")
    path = tmp / "retail.duckdb"
    with duckdb.connect(str(path)) as con:
        _create_raw(con)
        _create_forecast(con)

    mp = pytest.MonkeyPatch()
    mp.setenv("RETAILOPS_WAREHOUSE", str(path))
    mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        result = dbtRunner().invoke(
            [
                "build",
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
                "--target-path",
                str(tmp / "target"),
                "--log-path",
                str(tmp / "logs"),
                "--quiet",
            ]
        )
    finally:
        mp.undo()
        # dbt-duckdb keeps its DuckDB instance open in-process; release it so the file can be
        # opened read-only below, as BI readers would
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        DuckDBConnectionManager.close_all_connections()
        gc.collect()
    failures = [
        f"{r.node.unique_id}: {r.status} {r.message}"
        for r in (result.result or [])
        if str(r.status) not in ("success", "pass")
    ]
    assert result.success, f"dbt build failed: {result.exception or failures}"
    # The pipeline's builds leave dbt's unit tests out (orchestration/lib/dbt_window.py): this
    # build is where they run, every one of them.
    manifest = json.loads((tmp / "target" / "manifest.json").read_text())
    ran = {r.node.unique_id for r in result.result if r.node.unique_id.startswith("unit_test.")}
    assert ran == set(manifest["unit_tests"]) and len(ran) >= 20
    return path


@pytest.fixture(scope="module")
def manifest(warehouse: Path) -> dict[str, Any]:
    """The manifest `dbt build` wrote next to the warehouse."""
    return json.loads((warehouse.parent / "target" / "manifest.json").read_text())


def _upstream(manifest: dict[str, Any], unique_id: str) -> set[str]:
    nodes = {**manifest["nodes"], **manifest["sources"]}
    seen: set[str] = set()
    stack = [unique_id]
    while stack:
        for parent in nodes[stack.pop()].get("depends_on", {}).get("nodes", []):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _one(path: Path, sql: str, params: list[Any]) -> dict[str, Any]:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    assert len(rows) == 1, f"expected one row for {params}, got {len(rows)}"
    return dict(zip(names, rows[0], strict=True))


def _sell_through(path: Path, item_id: str, location_id: str, week: int) -> dict[str, Any]:
    return _one(
        path,
        "select * from marts.fct_sell_through where item_id = ? and location_id = ? and week_end_date = ?",
        [item_id, location_id, W[week]],
    )


def _exposure(path: Path, item_id: str, location_id: str, day: date) -> dict[str, Any]:
    return _one(
        path,
        "select * from marts.fct_stock_exposure where item_id = ? and location_id = ? and snapshot_date = ?",
        [item_id, location_id, day],
    )


def _promotion_line(path: Path, promotion_id: str, item_id: str, location_id: str) -> dict[str, Any]:
    return _one(
        path,
        "select * from marts.fct_promotion_profitability where promotion_id = ? and item_id = ? and location_id = ?",
        [promotion_id, item_id, location_id],
    )


def test_forecast_dependency_follows_the_post_forecast_tag(manifest: dict[str, Any]) -> None:
    # Dagster builds everything untagged before forecasting and the post_forecast models after
    for name in ("fct_sell_through", "int_demand_weekly", "int_promotion_weeks"):
        node = manifest["nodes"][f"model.retailops.{name}"]
        assert "post_forecast" not in node["tags"]
        assert not any(u.startswith("source.retailops.forecast.") for u in _upstream(manifest, node["unique_id"]))
    for name in ("fct_stock_exposure", "fct_promotion_profitability"):
        node = manifest["nodes"][f"model.retailops.{name}"]
        assert "post_forecast" in node["tags"]
        assert any(u.startswith("source.retailops.forecast.") for u in _upstream(manifest, node["unique_id"]))
    # in general: whatever reads the forecast, directly or not, is tagged (else Dagster's first
    # dbt selection would need forecast tables that do not exist yet)
    tagged = {uid for uid, n in {**manifest["nodes"], **manifest["sources"]}.items() if "post_forecast" in n["tags"]}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] in ("model", "snapshot") and uid not in tagged:
            assert not (_upstream(manifest, uid) & tagged), uid
    sales_source = manifest["sources"]["source.retailops.raw.pos__sales"]
    assert sales_source["meta"]["dagster"]["asset_key"] == ["raw", "pos__sales"]


def test_staging_keeps_latest_extract_and_expands_all_locations(warehouse: Path) -> None:
    item = _one(warehouse, "select * from staging.stg_erp__items where item_id = ?", [I1])
    assert item["unit_cost"] == Decimal("2.00") and item["regular_price"] == Decimal("5.00")
    # P1 '*' → S1 and S2; its lump sum of 10.00 is shared equally by the two locations
    p1 = _one(
        warehouse,
        "select count(*) as n, sum(lump_sum_funding_allocated) as lump, "
        "min(promo_price) as price from staging.stg_erp__promotions where promotion_id = ?",
        ["P1"],
    )
    assert p1 == {"n": 2, "lump": Decimal("10.00"), "price": Decimal("4.00")}


def test_forecast_inputs(warehouse: Path) -> None:
    # W2 at I1×S1: 80.00 net + 20.00 discount = 100.00 at regular price → depth 0.2; P1 and P3
    # are both live, the week belongs to the smaller id
    w2 = _one(
        warehouse,
        "select * from intermediate.int_demand_weekly where item_id = ? and location_id = ? and week_end_date = ?",
        [I1, S1, W[2]],
    )
    assert w2["units"] == 20 and w2["regular_price_sales"] == pytest.approx(100.0)
    assert w2["discount_depth"] == pytest.approx(0.2)
    assert (w2["is_promoted"], w2["promotion_id"]) == (True, "P1")
    # W4: only the pending P4 covers it
    w4 = _one(
        warehouse,
        "select is_promoted from intermediate.int_demand_weekly where item_id = ? "
        "and location_id = ? and week_end_date = ?",
        [I1, S1, W[4]],
    )
    assert w4["is_promoted"] is False
    # P2 runs Wed 01-17 … Wed 01-24: weeks W3 and W4; depth 1 − 2.00 / 3.00
    weeks = _one(
        warehouse,
        "select list(week_end_date order by week_end_date) as weeks, "
        "min(discount_depth) as depth from intermediate.int_promotion_weeks where promotion_id = ?",
        ["P2"],
    )
    assert weeks["weeks"] == [W[3], W[4]] and weeks["depth"] == pytest.approx(1 / 3)


def test_sell_through(warehouse: Path) -> None:
    # W1 restated: the later extract's 10 units win over the first extract's 9
    assert _sell_through(warehouse, I1, S1, 1)["units_sold"] == 10
    w2 = _sell_through(warehouse, I1, S1, 2)
    assert w2["sell_through_rate"] == pytest.approx(20 / (20 + 30))
    # gross margin 80 − 20 × 2.00 = 40; average inventory (34 + 30) ÷ 2 × 2.00 = 64
    assert w2["gross_margin"] == Decimal("40.0000") and w2["average_inventory_at_cost"] == Decimal("64.0000")
    assert w2["gmroi"] == pytest.approx(40 / 64)
    # funding 20 units × 0.50 from P1
    assert w2["gmroi_net_of_funding"] == pytest.approx((40 + 10) / 64)
    # on hand at retail 30 × 5.00 = 150 over net sales 80
    assert w2["stock_to_sales"] == pytest.approx(150 / 80)
    assert w2["is_promoted"] is True
    # W5: in-stock weeks among W2..W5 are W2, W4, W5 (W3 closed at 0) → (20 + 8 + 6) ÷ 3
    w5 = _sell_through(warehouse, I1, S1, 5)
    assert w5["weeks_of_supply"] == pytest.approx(25 / (34 / 3))
    assert w5["trailing_in_stock_weeks"] == 3
    # 0 sold and 0 on hand: the denominator is 0, so no rate
    zero = _sell_through(warehouse, I2, S2, 1)
    assert zero["sell_through_denominator"] == 0 and zero["sell_through_rate"] is None


def test_stock_exposure(warehouse: Path) -> None:
    latest = _exposure(warehouse, I1, S1, W[5])
    assert latest["is_latest_snapshot_date"] is True and latest["cover_demand_basis"] == "forecast"
    # 25 + 5 + 10 = 40 units; at cost × 2.00, at retail × 5.00
    assert latest["inventory_position_units"] == 40
    assert latest["inventory_position_at_cost"] == Decimal("80.0000")
    assert latest["inventory_position_at_retail"] == Decimal("200.0000")
    # horizon W6..W9 (W10 is beyond 4 weeks): (14 + 14 + 7 + 7) ÷ 28 days = 1.5 a day
    assert latest["days_of_cover"] == pytest.approx(25 / 1.5)
    assert latest["stockout_risk"] is False  # 16.7 days ≥ 7 lead + 7 review
    # 25 − 21 protection forecast − 3 safety stock = 1 unit, × 2.00
    assert latest["excess_units"] == 1 and latest["excess_at_cost"] == Decimal("2.0000")
    # W4 is historical: trailing actuals W1..W4 = 50 units ÷ 28 days; 20 on hand
    w4 = _exposure(warehouse, I1, S1, W[4])
    assert w4["cover_demand_basis"] == "trailing_actuals" and w4["excess_units"] is None
    assert w4["days_of_cover"] == pytest.approx(20 / (50 / 28))
    assert w4["stockout_risk"] is True  # 11.2 days < 14
    # no forecast horizon for 007 × S1: cover unknown; still no excess (5 − 10 − 2 < 0)
    no_forecast = _exposure(warehouse, I2, S1, W[5])
    assert no_forecast["days_of_cover"] is None and no_forecast["stockout_risk"] is None
    assert no_forecast["excess_units"] == 0


def test_promotion_profitability(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        lines = con.execute(
            "select promotion_id, item_id, location_id from marts.fct_promotion_profitability order by all"
        ).fetchall()
    # P1 × S2 has no forecast history; P4 is pending
    assert lines == [("P1", I1, S1), ("P2", I2, S1), ("P3", I1, S1)]

    p1 = _promotion_line(warehouse, "P1", I1, S1)
    assert (p1["weeks"], p1["actual_units"], p1["baseline_units"]) == (1, 20, 12)
    assert p1["lift_pct"] == pytest.approx(8 / 12)
    assert p1["incremental_revenue"] == Decimal("20.0000")  # 80 − 12 × 5
    assert p1["incremental_gross_margin"] == Decimal("4.0000")  # (80 − 20 × 2) − 12 × (5 − 2)
    assert p1["discount_cost"] == Decimal("20.0000")  # 20 × (5 − 4)
    assert p1["discount_on_baseline_units"] == Decimal("12.0000")  # min(20, 12) × 1
    assert p1["vendor_funding"] == Decimal("15.0000")  # 20 × 0.50 + 10 ÷ 2 locations
    assert p1["roi"] == pytest.approx((4 + 15) / 20)
    assert p1["has_overlap"] is True
    # after W2: W3 is P3's; W4 is unpromoted (P4 is pending) and within 2 weeks of both P1 and
    # P3, so it belongs to P3, which ended last: P1 has no post-promotion week
    assert (p1["post_promotion_weeks"], p1["post_promotion_dip_units"]) == (0, None)

    # P3 shares W2 with P1, which keeps it; P3 is measured on W3 only
    p3 = _promotion_line(warehouse, "P3", I1, S1)
    assert (p3["history_weeks"], p3["weeks"], p3["overlap_weeks"]) == (2, 1, 1)
    assert (p3["actual_units"], p3["baseline_units"]) == (12, 13)
    assert p3["incremental_gross_margin"] == Decimal("-3.0000")  # (60 − 24) − 13 × 3
    assert p3["roi"] == pytest.approx(-3 / 6)  # discount 12 × 0.50
    # W4 (baseline 9, sold 8) and W5 (7, 6): each dip week counted once, for P3
    assert (p3["post_promotion_weeks"], p3["post_promotion_dip_units"]) == (2, 2)

    # P2: funding 15 × 1.00 equals the discount 15 × (3 − 2): fully funded, no ROI
    p2 = _promotion_line(warehouse, "P2", I2, S1)
    assert p2["is_fully_funded"] is True and p2["roi"] is None
    assert p2["incremental_gross_margin"] == Decimal("-5.0000")  # (30 − 15) − 10 × (3 − 1)


def test_every_model_and_column_is_described(warehouse: Path, manifest: dict[str, Any]) -> None:
    # What BI and planners read must explain itself: intermediate and marts models (and the
    # exceptions snapshot), and every column they actually have in the warehouse, carry a
    # description; marts enforce contracts.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        built = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in ('intermediate', 'marts')"
        ).fetchall()
    nodes = {
        (n["schema"], n["name"]): n
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "snapshot") and n["schema"] in ("intermediate", "marts")
    }
    assert {(schema, table) for schema, table, _ in built} == set(nodes)
    undescribed = [f"{s}.{t}" for (s, t), n in nodes.items() if not n["description"].strip()]
    undescribed += [
        f"{schema}.{table}.{column}"
        for schema, table, column in built
        if not nodes[(schema, table)]["columns"].get(column, {}).get("description", "").strip()
    ]
    assert undescribed == []
    not_enforced = [t for (s, t), n in nodes.items() if s == "marts" and not n["config"]["contract"]["enforced"]]
    assert not_enforced == []


def test_dimensions(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        calendar = con.execute(
            "select min(date_day), max(date_day), count(*), count(distinct week_end_date) from marts.dim_calendar"
        ).fetchone()
        # every fact date and week joins to the calendar
        orphans = con.execute(
            """select count(*) from marts.fct_sell_through
               where week_end_date not in (select date_day from marts.dim_calendar where is_week_end_day)"""
        ).fetchone()[0]
        w2_days = con.execute(
            "select list(date_day order by date_day) from marts.dim_calendar where week_end_date = ?", [W[2]]
        ).fetchone()[0]
    # the earliest date is W1 = Wed 2024-01-03, whose week starts Thu 2023-12-28; the latest is
    # W5; plus var calendar_future_weeks = 53 weeks: 5 + 53 = 58 weeks of 7 days
    assert calendar == (date(2023, 12, 28), W[5] + timedelta(days=7 * 53), 58 * 7, 58)
    assert orphans == 0
    assert w2_days == [date(2024, 1, 4) + timedelta(days=d) for d in range(7)]

    item = _one(warehouse, "select * from marts.dim_item where item_id = ?", [I2])
    assert item["regular_unit_margin"] == Decimal("2.0000") and item["regular_margin_rate"] == pytest.approx(2 / 3)
    p1 = _one(warehouse, "select * from marts.dim_promotion where promotion_id = ?", ["P1"])
    # '*' → S1 and S2; lump sum 10 in total; W2 at S1 is shared with P3 and kept by P1
    # (5 live days against P3's 1)
    assert (p1["lines"], p1["locations"], p1["has_all_locations_line"]) == (2, 2, True)
    assert p1["lump_sum_funding"] == Decimal("10.0000")
    assert (p1["overlap_line_weeks"], p1["ceded_line_weeks"], p1["has_overlap"]) == (1, 0, True)
    p3 = _one(warehouse, "select * from marts.dim_promotion where promotion_id = ?", ["P3"])
    assert (p3["retail_weeks"], p3["overlap_line_weeks"], p3["ceded_line_weeks"]) == (2, 1, 1)
    p4 = _one(warehouse, "select * from marts.dim_promotion where promotion_id = ?", ["P4"])
    assert (p4["is_approved"], p4["approval_status"], p4["retail_weeks"]) == (False, "pending", 0)


def test_promotion_summary(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        listed = con.execute("select list(promotion_id order by promotion_id) from marts.fct_promotion_summary")
        listed = listed.fetchone()[0]
    assert listed == ["P1", "P2", "P3"]  # P4 is pending
    p1 = _one(warehouse, "select * from marts.fct_promotion_summary where promotion_id = ?", ["P1"])
    # measured at S1 only (S2 has no forecast history): 20 units × 0.50 + S1's lump 5, plus
    # S2's unmeasured lump 5 → 20; discount 20 → fully funded, ROI NULL
    assert (p1["approved_lines"], p1["measured_lines"], p1["unmeasured_lines"]) == (2, 1, 1)
    assert p1["unmeasured_lump_sum_funding"] == Decimal("5.0000")
    assert p1["vendor_funding"] == Decimal("20.0000") and p1["discount_cost"] == Decimal("20.0000")
    assert p1["is_fully_funded"] is True and p1["roi"] is None
    assert p1["lift_pct"] == pytest.approx(8 / 12)
    p3 = _one(warehouse, "select * from marts.fct_promotion_summary where promotion_id = ?", ["P3"])
    assert (p3["actual_units"], p3["baseline_units"], p3["has_overlap"]) == (12, 13, True)
    assert p3["roi"] == pytest.approx(-3 / 6)


def _dbt(warehouse: Path, tmp: Path, *args: str) -> Any:
    """dbt `args` on `warehouse`; the dbtRunner result."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    mp = pytest.MonkeyPatch()
    mp.setenv("RETAILOPS_WAREHOUSE", str(warehouse))
    mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        result = dbtRunner().invoke(
            [*args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
             "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"), "--quiet"]
        )  # fmt: skip
    finally:
        mp.undo()
        DuckDBConnectionManager.close_all_connections()
        gc.collect()
    return result


def _dbt_test(warehouse: Path, tmp: Path, select: list[str]) -> dict[str, tuple[str, int]]:
    """`dbt test --select ...` on `warehouse`: status and failing rows per test name."""
    result = _dbt(warehouse, tmp, "test", "--resource-type", "test", "--select", *select)
    assert result.result is not None, result.exception
    return {r.node.name: (str(r.status), r.failures or 0) for r in result.result}


def test_staging_row_rules_catch_nulls_duplicates_and_unknown_ids(warehouse: Path, tmp_path: Path) -> None:
    # The two big staging tables are checked by one valid_rows test each (one scan instead of one
    # per rule): it must still fail on each kind of broken row.
    selection = ["stg_pos__sales", "stg_inventory__snapshots"]
    clean = _dbt_test(warehouse, tmp_path / "clean", selection)
    assert clean == {"stg_pos__sales_valid_rows": ("pass", 0), "stg_inventory__snapshots_valid_rows": ("pass", 0)}

    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(warehouse.read_bytes())
    metadata = ["f.csv", date(2024, 3, 1), "load-broken", datetime(2024, 3, 1), 2]
    with duckdb.connect(str(broken)) as con:
        sales_columns = ", ".join(c.name for c in SALES.columns)
        # a later extract restates W3 of I1 × S1 without units: the row staging keeps has NULL units
        con.execute(
            f"insert into raw.pos__sales ({sales_columns}, _file, _extract_date, _load_id, _loaded_at, _row_number) "
            "values (?, 'S1', 'I1', NULL, 60.00, 0, NULL, NULL, 7, ?, ?, ?, ?, ?)",
            [W[3], *metadata],
        )
        # a sale without an item id (a second failing key: NULL in the grain)
        con.execute(
            f"insert into raw.pos__sales ({sales_columns}, _file, _extract_date, _load_id, _loaded_at, _row_number) "
            "values (?, 'S1', NULL, 1, 5.00, 0, NULL, NULL, 7, ?, ?, ?, ?, ?)",
            [W[3], *metadata],
        )
        # a snapshot of an item the item master never sent
        con.execute(
            "insert into raw.inventory__snapshots (snapshot_date, location_id, item_id, on_hand_units, "
            "_file, _extract_date, _load_id, _loaded_at, _row_number) values (?, 'S1', 'I404', 3, ?, ?, ?, ?, ?)",
            [W[2], *metadata],
        )
    # staging is a table: the broken raw rows reach it when it is built again (no window: every date)
    staged = _dbt(broken, tmp_path / "restage", "run", "--select", *selection)
    assert staged.success, staged.exception
    with duckdb.connect(str(broken)) as con:
        # staging cannot emit a duplicate key itself (it deduplicates), so the table is wrapped in
        # a view repeating W1's two rows: the test reads whatever the relation holds
        con.execute("alter table staging.stg_inventory__snapshots rename to stg_inventory__snapshots_deduplicated")
        con.execute(
            "create view staging.stg_inventory__snapshots as "
            "select * from staging.stg_inventory__snapshots_deduplicated union all "
            f"select * from staging.stg_inventory__snapshots_deduplicated where snapshot_date = '{W[1]}'"
        )
    failed = _dbt_test(broken, tmp_path / "broken", selection)
    # sales: the NULL-units key and the NULL-item key; snapshots: 2 duplicated keys + 1 unknown item
    assert failed == {"stg_pos__sales_valid_rows": ("fail", 2), "stg_inventory__snapshots_valid_rows": ("fail", 3)}
