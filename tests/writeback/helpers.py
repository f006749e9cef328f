"""A small warehouse with hand-chosen forecast values, and readers for both targets' contents."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from forecasting.tables import PROMOTION_UPLIFT, REPLENISHMENT_TARGETS, conform

AS_OF = date(2025, 6, 25)
MODEL = "test-model-v1"
UNIT_COST = {"001": 2.0, "002": 10.0}

# (item, location) -> safety stock, reorder point, order-up-to, suggested order (units)
BASE_TARGETS: dict[tuple[str, str], tuple[float, float, float, float]] = {
    ("001", "L1"): (10.0, 25.0, 40.0, 12.0),
    ("001", "L2"): (8.0, 20.0, 32.0, 0.0),
    ("002", "L1"): (4.0, 9.0, 20.0, 6.0),
    ("002", "L2"): (3.5, 7.25, 15.5, 0.0),
}
# promotion, item, location, start, end, uplift units
BASE_UPLIFT = [
    ("P1", "001", "L1", date(2025, 7, 3), date(2025, 7, 16), 30.0),
    ("P1", "001", "L2", date(2025, 7, 3), date(2025, 7, 16), 22.5),
    ("P2", "002", "L1", date(2025, 7, 10), date(2025, 7, 23), 12.0),
]
TYPES = ("safety_stock_units", "reorder_point_units", "order_up_to_units", "suggested_order_units")


def expected_values(targets=None, uplift=None, as_of: date = AS_OF) -> dict[tuple, float]:
    """Business key -> value, straight from the hand-written inputs."""
    targets = BASE_TARGETS if targets is None else targets
    uplift = BASE_UPLIFT if uplift is None else uplift
    values = {}
    for (item, location), measures in targets.items():
        for target_type, value in zip(TYPES, measures, strict=True):
            values[(item, location, target_type, as_of)] = value
    for _, item, location, start, _, units in uplift:
        values[(item, location, "uplift_units", start)] = units
    return values


def write_forecast(warehouse: Path, targets=None, uplift=None, as_of: date = AS_OF, model: str = MODEL) -> None:
    """(Re)create the tables writeback reads: staging items and promotions, forecast targets and uplift."""
    targets = BASE_TARGETS if targets is None else targets
    uplift = BASE_UPLIFT if uplift is None else uplift
    replenishment = pd.DataFrame([
        {"item_id": item, "location_id": location, "as_of_date": as_of, "lead_time_days": 4,
         "review_period_days": 7, "protection_period_days": 11, "forecast_lead_time_units": 1.0,
         "forecast_protection_units": 2.0, "sigma_protection_units": 1.0, "service_level": 0.95, "z_value": 1.64,
         "safety_stock_units": m[0], "reorder_point_units": m[1], "order_up_to_units": m[2],
         "inventory_position_units": 5.0, "pack_size": 1, "moq": 1, "suggested_order_units": m[3],
         "method": "prophet", "model_version": model, "sigma_basis": "backtest_regular_windows", "sigma_windows": 20}
        for (item, location), m in targets.items()
    ])
    promotions = pd.DataFrame([
        {"promotion_id": p, "item_id": i, "location_id": loc, "start_date": s, "end_date": e, "promo_weeks": 2,
         "predicted_units": 100 + u, "baseline_units": 100.0, "uplift_units": u, "uplift_pct": u / 100,
         "uplift_lower": u - 5, "uplift_upper": u + 5, "method": "prophet", "model_version": model}
        for p, i, loc, s, e, u in uplift
    ])
    with duckdb.connect(str(warehouse)) as con:
        for schema in ("staging", "marts", "forecast"):
            con.execute(f"create schema if not exists {schema}")
        con.execute("create or replace table marts.dim_item (item_id varchar, unit_cost decimal(18,4))")
        con.executemany("insert into marts.dim_item values (?, ?)", list(UNIT_COST.items()))
        con.execute(
            """create or replace table staging.stg_erp__promotions (promotion_id varchar, item_id varchar,
               location_id varchar, start_date date, end_date date, is_approved boolean)"""
        )
        if uplift:
            con.executemany("insert into staging.stg_erp__promotions values (?, ?, ?, ?, ?, true)",
                            [(p, i, loc, s, e) for p, i, loc, s, e, _ in uplift])
        for relation, frame, schema in (("forecast.replenishment_targets", replenishment, REPLENISHMENT_TARGETS),
                                        ("forecast.promotion_uplift", promotions, PROMOTION_UPLIFT)):
            columns = ", ".join(f"{name} {sql_type}" for name, sql_type in schema.items())
            con.execute(f"create or replace table {relation} ({columns})")
            if len(frame):
                con.register("rows", conform(frame, schema))
                con.execute(f"insert into {relation} select * from rows")
                con.unregister("rows")


def file_values(outbound: Path) -> dict[tuple, float]:
    """Business key -> value as an ERP importer would read it: every manifest's files, in created order."""
    values: dict[tuple, float] = {}
    manifests = sorted(outbound.glob("manifest_*.json"), key=lambda p: (json.loads(p.read_text())["created_at"],
                                                                        p.stat().st_mtime_ns))
    for manifest_path in manifests:
        manifest = json.loads(manifest_path.read_text())
        for entry in manifest["files"]:
            frame = pd.read_csv(outbound / entry["file"], dtype={"item_id": str, "location_id": str,
                                                                 "promotion_id": str})
            for row in frame.to_dict("records"):
                effective = date.fromisoformat(row["effective_date"])
                types = ["uplift_units"] if entry["target_type"] == "promotion_uplift" else TYPES
                for target_type in types:
                    if not pd.isna(row[target_type]):
                        values[(row["item_id"], row["location_id"], target_type, effective)] = float(row[target_type])
    return values


def folder_snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()}


def table_rows(warehouse: Path, relation: str, order_by: str = "all") -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select * from {relation} order by {order_by}").fetchall()


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
