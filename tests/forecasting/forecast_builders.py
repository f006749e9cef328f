"""Builders for int_demand_weekly- and int_promotion_weeks-shaped rows used across the forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

FIRST_WEEK = pd.Timestamp("2022-01-05")  # a Wednesday: weeks end on Wednesdays
PROMOTION_COLUMNS = ["promotion_id", "item_id", "location_id", "week_end_date", "discount_depth", "feature", "display"]


def demand_rows(
    item_id: str,
    location_id: str,
    units,
    promoted=None,
    depth: float = 0.3,
    feature: int = 0,
    display: int = 0,
    start: pd.Timestamp = FIRST_WEEK,
) -> list[dict]:
    """int_demand_weekly rows; a NaN unit means the week has no row (nothing sold)."""
    units = np.asarray(units, float)
    promoted = np.zeros(units.size, bool) if promoted is None else np.asarray(promoted, bool)
    rows = []
    for k, (u, p) in enumerate(zip(units, promoted, strict=True)):
        if np.isnan(u):
            continue
        rows.append(
            {
                "item_id": item_id,
                "location_id": location_id,
                "week_end_date": (start + pd.Timedelta(weeks=k)).date(),
                "units": float(u),
                "discount_depth": depth if p else 0.0,
                "feature": feature if p else 0,
                "display": display if p else 0,
                "is_promoted": bool(p),
            }
        )
    return rows


def promotion_rows(
    promotion_id: str,
    item_id: str,
    location_id: str,
    weeks,
    depth: float | None = 0.3,
    feature: int = 0,
    display: int = 0,
) -> list[dict]:
    """int_promotion_weeks rows for the given week-ending dates."""
    return [
        {
            "promotion_id": promotion_id,
            "item_id": item_id,
            "location_id": location_id,
            "week_end_date": pd.Timestamp(w).date(),
            "discount_depth": depth,
            "feature": feature,
            "display": display,
        }
        for w in weeks
    ]


def week(k: int, start: pd.Timestamp = FIRST_WEEK) -> pd.Timestamp:
    return start + pd.Timedelta(weeks=k)


def frames(demand: list[dict], plans: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(demand), pd.DataFrame(plans, columns=PROMOTION_COLUMNS)
