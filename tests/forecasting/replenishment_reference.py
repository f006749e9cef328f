"""The per-series replenishment_targets as it was before the table-level path was vectorised.

Kept only as the independent reference the vectorised `forecasting.replenishment.replenishment_targets`
is checked against (tests/forecasting/test_replenishment_equivalence.py) and timed against
(benchmarks/replenishment_speed.py): it loops over item x location series in Python and composes
the small pure functions that tests/forecasting/test_replenishment.py checks against hand-worked
cases. The private helpers are copied here unchanged, so a change to the module's own helpers
cannot silently change the reference too.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from forecasting.replenishment import (
    BACKTEST_COLUMNS,
    DAYS_PER_WEEK,
    FORECAST_COLUMNS,
    ITEM_COLUMNS,
    MIN_SIGMA_WINDOWS,
    forecast_over_days,
    order_up_to,
    protection_period_days,
    protection_sigma,
    reorder_point,
    safety_stock,
    sigma_protection,
    suggested_order,
    z_value,
)
from forecasting.tables import REPLENISHMENT_TARGETS, conform


def reference_replenishment_targets(
    weekly_forecast: pd.DataFrame,
    items: pd.DataFrame,
    inventory_position: pd.DataFrame,
    backtest_points: pd.DataFrame,
    as_of_date: date,
    review_period_days: int = 7,
    service_level: float = 0.95,
    min_windows: int = MIN_SIGMA_WINDOWS,
) -> pd.DataFrame:
    """forecast.replenishment_targets: one row per item × location of `weekly_forecast`.

    `weekly_forecast` is forecast.demand_weekly (its predicted_units already carry the uplift
    of approved promotions); `items` the item master (lead_time_std_days optional, NULL = 0;
    pack_size NULL = 1; moq NULL = 0); `inventory_position` holds item_id, location_id,
    inventory_position_units (a series without one gets NULL position and NULL order);
    `backtest_points` the shipped model's rows of forecast.backtest_points. A series with too
    few backtest windows takes the median σ per forecast unit of its item's other stores
    (basis 'item_relative'), or no forecast-error term at all (basis 'none').
    """
    as_of = pd.Timestamp(as_of_date).date()
    z = z_value(service_level)
    forecast = _require(weekly_forecast, "weekly_forecast", FORECAST_COLUMNS)
    forecast["week_end_date"] = pd.to_datetime(forecast["week_end_date"]).dt.date
    item_master = _item_master(items)
    positions = _lookup(inventory_position, "inventory_position", "inventory_position_units")
    points = _require(backtest_points, "backtest_points", BACKTEST_COLUMNS)
    points_by_series = {key: rows for key, rows in points.groupby(["item_id", "location_id"], sort=False)}
    empty_points = points.iloc[0:0]

    missing_items = sorted(set(forecast["item_id"].astype(str)) - set(item_master))
    if missing_items:
        raise ValueError(
            f"items lacks item_id {missing_items[:5]} that the weekly forecast has; "
            "every forecast item needs its lead time, pack size and MOQ"
        )

    rows = []
    for (item_id, location_id), weeks in forecast.groupby(["item_id", "location_id"], sort=True):
        item = item_master[str(item_id)]
        key = (str(item_id), str(location_id))
        weeks = weeks.sort_values("week_end_date")
        ahead = weeks[weeks["week_end_date"] > as_of]
        weekly_units = dict(zip(ahead["week_end_date"], ahead["predicted_units"].astype(float), strict=True))
        # Past the last forecast week no promotion is known: continue at its baseline rate.
        beyond = float(weeks["baseline_units"].iloc[-1])
        lead_time = item["lead_time_days"]
        period = protection_period_days(review_period_days, lead_time)
        lead_time_units = forecast_over_days(weekly_units, as_of, lead_time, beyond)
        protection_units = forecast_over_days(weekly_units, as_of, period, beyond)
        promoted_ahead = _promoted_within(ahead, as_of, period)
        error_sigma, basis, windows = protection_sigma(
            points_by_series.get(key, empty_points), period, promoted_ahead, min_windows
        )
        rows.append(
            {
                "item_id": key[0],
                "location_id": key[1],
                "as_of_date": as_of,
                "lead_time_days": lead_time,
                "lead_time_std_days": item["lead_time_std_days"],
                "review_period_days": review_period_days,
                "protection_period_days": period,
                "forecast_lead_time_units": lead_time_units,
                "forecast_protection_units": protection_units,
                "error_sigma": error_sigma,
                "sigma_basis": basis,
                "sigma_windows": windows,
                "service_level": service_level,
                "z_value": z,
                "position": positions.get(key),
                "pack_size": item["pack_size"],
                "moq": item["moq"],
                "method": weeks["method"].iloc[0],
                "model_version": weeks["model_version"].iloc[0],
            }
        )
    if not rows:
        return conform(pd.DataFrame({c: [] for c in REPLENISHMENT_TARGETS}), REPLENISHMENT_TARGETS)
    targets = pd.DataFrame(rows)
    _borrow_item_sigma(targets)
    results = []
    for row in targets.to_dict("records"):
        period = row["protection_period_days"]
        mean_daily = row["forecast_protection_units"] / period if period else 0.0
        sigma = sigma_protection(row["error_sigma"], mean_daily, row["lead_time_std_days"])
        safety = safety_stock(z, sigma)
        up_to = order_up_to(row["forecast_protection_units"], safety)
        position = None if row["position"] is None or pd.isna(row["position"]) else float(row["position"])
        order = None if position is None else suggested_order(up_to, position, row["pack_size"], row["moq"])
        results.append(
            {
                **{name: value for name, value in row.items() if name != "position"},
                "sigma_protection_units": sigma,
                "safety_stock_units": safety,
                "reorder_point_units": reorder_point(row["forecast_lead_time_units"], safety),
                "order_up_to_units": up_to,
                "inventory_position_units": float("nan") if position is None else position,
                "suggested_order_units": float("nan") if order is None else order,
            }
        )
    return conform(pd.DataFrame(results), REPLENISHMENT_TARGETS)


def _promoted_within(ahead: pd.DataFrame, as_of: date, days: int) -> bool:
    """Is an approved promotion live in any forecast week overlapping the `days` after `as_of`?"""
    last_day = as_of + timedelta(days=days)
    overlapping = ahead[(ahead["week_end_date"] - timedelta(days=DAYS_PER_WEEK - 1)) <= last_day]
    if "is_promoted" in overlapping.columns:
        return bool(overlapping["is_promoted"].fillna(False).astype(bool).any())
    return bool((overlapping["predicted_units"] > overlapping["baseline_units"]).any())


def _borrow_item_sigma(targets: pd.DataFrame) -> None:
    """Series without enough backtest windows: σ = the item's median σ per forecast unit × their forecast."""
    measured = targets[targets["error_sigma"].notna() & (targets["forecast_protection_units"] > 0)]
    ratio = measured["error_sigma"].astype(float) / measured["forecast_protection_units"].astype(float)
    relative = ratio.groupby(measured["item_id"]).median().astype(float)
    missing = targets["error_sigma"].isna()
    per_unit = targets.loc[missing, "item_id"].map(relative).astype(float)
    borrowed = per_unit * targets.loc[missing, "forecast_protection_units"].astype(float)
    targets.loc[missing, "error_sigma"] = borrowed
    targets.loc[missing & targets["error_sigma"].notna(), "sigma_basis"] = "item_relative"
    still_missing = targets["error_sigma"].isna()
    targets.loc[still_missing, "error_sigma"] = 0.0
    targets.loc[still_missing, "sigma_basis"] = "none"


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; expected at least {list(columns)}")
    out = frame.copy()
    for column in ("item_id", "location_id"):
        if column in out.columns:
            out[column] = out[column].astype(str)
    return out


def _item_master(items: pd.DataFrame) -> dict[str, dict]:
    frame = _require(items, "items", ITEM_COLUMNS)
    duplicated = frame[frame["item_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(
            f"items row {duplicated.index[0]}: item_id {duplicated['item_id'].iloc[0]!r} "
            "appears more than once; expected the current item master, one row per item"
        )
    master = {}
    for index, row in frame.iterrows():
        lead_time = row["lead_time_days"]
        if pd.isna(lead_time) or lead_time < 0:
            raise ValueError(
                f"items row {index}: item_id {row['item_id']!r} has lead_time_days "
                f"{lead_time!r}; expected a whole number of days >= 0"
            )
        lead_time_std = row.get("lead_time_std_days")
        pack_size = row["pack_size"]
        moq = row["moq"]
        master[row["item_id"]] = {
            "lead_time_days": int(lead_time),
            "lead_time_std_days": 0.0 if pd.isna(lead_time_std) else float(lead_time_std),
            "pack_size": 1 if pd.isna(pack_size) or pack_size < 1 else int(pack_size),
            "moq": 0 if pd.isna(moq) or moq < 0 else int(moq),
        }
    return master


def _lookup(frame: pd.DataFrame, name: str, value_column: str) -> dict[tuple[str, str], float]:
    table = _require(frame, name, ("item_id", "location_id", value_column))
    duplicated = table[table.duplicated(["item_id", "location_id"])]
    if not duplicated.empty:
        raise ValueError(
            f"{name} row {duplicated.index[0]}: item_id {duplicated['item_id'].iloc[0]!r}, "
            f"location_id {duplicated['location_id'].iloc[0]!r} appears more than once"
        )
    table = table[table[value_column].notna()]
    return {
        (item_id, location_id): float(value)
        for item_id, location_id, value in zip(table["item_id"], table["location_id"], table[value_column], strict=True)
    }
