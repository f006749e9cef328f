"""Replenishment targets from the weekly forecast (DESIGN §6): a periodic-review,
order-up-to policy with safety stock over the protection period P = review + lead time.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from statistics import NormalDist

import numpy as np
import pandas as pd

from forecasting.tables import REPLENISHMENT_TARGETS, conform

DAYS_PER_WEEK = 7
ITEM_COLUMNS: tuple[str, ...] = ("item_id", "lead_time_days", "pack_size", "moq")
FORECAST_COLUMNS: tuple[str, ...] = (
    "item_id",
    "location_id",
    "week_end_date",
    "predicted_units",
    "baseline_units",
    "method",
    "model_version",
)
BACKTEST_COLUMNS: tuple[str, ...] = (
    "item_id",
    "location_id",
    "origin_date",
    "horizon_weeks",
    "is_promoted",
    "actual_units",
    "predicted_units",
)
# Fewer backtest windows than this give no σ of the series' own.
MIN_SIGMA_WINDOWS = 8
# Rounding up to a pack must not turn 24.000000001 units into a second pack of 24.
_ROUNDING_TOLERANCE = 1e-9


def protection_period_days(review_period_days: int, lead_time_days: int) -> int:
    """P = review period + lead time, in days: the stretch one order must cover."""
    if review_period_days < 0 or lead_time_days < 0:
        raise ValueError(f"review period ({review_period_days}) and lead time ({lead_time_days}) must not be negative")
    return review_period_days + lead_time_days


def forecast_over_days(
    weekly_units: dict[date, float], as_of_date: date, days: int, beyond_forecast_weekly_units: float
) -> float:
    """Units expected in the `days` days after `as_of_date`, prorating each forecast week.

    `weekly_units` maps week-ending dates to the week's forecast; week w covers w−6 … w, so a
    week that overlaps the period by k days counts k/7 of its units. Days outside every
    forecast week (a period reaching past the horizon) run at `beyond_forecast_weekly_units`.
    """
    if days <= 0:
        return 0.0
    first_day = as_of_date + timedelta(days=1)
    last_day = as_of_date + timedelta(days=days)
    total = 0.0
    covered_days = 0
    for week_end, units in weekly_units.items():
        week_start = week_end - timedelta(days=DAYS_PER_WEEK - 1)
        overlap = (min(week_end, last_day) - max(week_start, first_day)).days + 1
        if overlap > 0:
            total += units * overlap / DAYS_PER_WEEK
            covered_days += overlap
    uncovered_days = max(days - covered_days, 0)
    return total + beyond_forecast_weekly_units * uncovered_days / DAYS_PER_WEEK


def sigma_protection(
    forecast_error_sigma_units: float,
    mean_daily_units: float,
    lead_time_std_days: float,
) -> float:
    """σ_P = sqrt(σ_forecast_P² + mean daily demand² × σ_lead time²).

    σ_forecast_P is the forecast error over the whole protection period (measured directly in
    the backtest, so the weeks' errors need not be independent); the supplier's lead-time
    variation is assumed independent of it, so the variances add.
    """
    variance = forecast_error_sigma_units**2 + mean_daily_units**2 * lead_time_std_days**2
    return math.sqrt(variance)


def window_weights(protection_days: int, horizons: int) -> np.ndarray:
    """Share of each forecast week h = 1 … horizons that falls in the P days after an origin.

    Week h covers days 7(h−1)+1 … 7h after the origin, so its weight is the overlap ÷ 7.
    """
    h = np.arange(1, horizons + 1)
    return np.clip(protection_days - 7 * (h - 1), 0, 7) / DAYS_PER_WEEK


def protection_sigma(
    errors: pd.DataFrame,
    protection_days: int,
    promoted_in_period: bool,
    min_windows: int = MIN_SIGMA_WINDOWS,
) -> tuple[float | None, str, int]:
    """σ of the forecast error over the protection period, from one series' backtest points.

    `errors` holds the shipped model's backtest points of the series (origin_date,
    horizon_weeks, actual_units, predicted_units, is_promoted). A window is an origin whose
    forecast weeks cover the P days: its error is Σ_h weight_h × (predicted − actual). σ is the
    root mean square over windows (bias counts as error), taken over windows with the same
    promotion status as the period ahead when there are at least `min_windows` of them, else
    over all windows. P beyond the backtest's horizon scales σ by sqrt(P ÷ covered days).
    Returns (σ, basis, windows); σ is None when fewer than `min_windows` windows exist.
    """
    if errors.empty or protection_days <= 0:
        return (0.0, "no_protection_period", 0) if protection_days <= 0 else (None, "no_backtest", 0)
    max_horizon = int(errors["horizon_weeks"].max())
    needed = min(math.ceil(protection_days / DAYS_PER_WEEK), max_horizon)
    covered_days = min(protection_days, needed * DAYS_PER_WEEK)
    weights = window_weights(covered_days, needed)
    frame = errors[errors["horizon_weeks"] <= needed]
    error = (frame["predicted_units"] - frame["actual_units"]).to_numpy(float)
    wide = pd.DataFrame(
        {
            "origin_date": frame["origin_date"].to_numpy(),
            "horizon_weeks": frame["horizon_weeks"].to_numpy(int),
            "weighted_error": error * weights[frame["horizon_weeks"].to_numpy(int) - 1],
            "promoted": frame["is_promoted"].to_numpy(bool) & (weights[frame["horizon_weeks"].to_numpy(int) - 1] > 0),
        }
    )
    windows = wide.groupby("origin_date").agg(
        weeks=("horizon_weeks", "nunique"), error=("weighted_error", "sum"), promoted=("promoted", "any")
    )
    windows = windows[windows["weeks"] == needed]
    if len(windows) < min_windows:
        return None, "no_backtest", len(windows)
    matching = windows[windows["promoted"] == promoted_in_period]
    if len(matching) >= min_windows:
        chosen, basis = matching, "backtest_promoted_windows" if promoted_in_period else "backtest_regular_windows"
    else:
        chosen, basis = windows, "backtest_all_windows"
    sigma = math.sqrt(float((chosen["error"] ** 2).mean())) * math.sqrt(protection_days / covered_days)
    return sigma, basis, len(chosen)


def z_value(service_level: float) -> float:
    """The standard normal quantile for a cycle service level (0.95 → 1.645)."""
    if not 0 < service_level < 1:
        raise ValueError(f"service_level must be between 0 and 1, got {service_level}")
    return NormalDist().inv_cdf(service_level)


def safety_stock(z: float, sigma_protection_units: float) -> float:
    """Safety stock = z × σ_P."""
    return z * sigma_protection_units


def reorder_point(forecast_lead_time_units: float, safety_stock_units: float) -> float:
    """Reorder point = forecast over the lead time + safety stock."""
    return forecast_lead_time_units + safety_stock_units


def order_up_to(forecast_protection_units: float, safety_stock_units: float) -> float:
    """Order-up-to level = forecast over the protection period + safety stock."""
    return forecast_protection_units + safety_stock_units


def suggested_order(order_up_to_units: float, inventory_position_units: float, pack_size: int, moq: int) -> float:
    """max(0, order-up-to − inventory position) rounded up to whole packs, and at least the MOQ."""
    if pack_size < 1:
        raise ValueError(f"pack_size must be >= 1, got {pack_size}")
    shortfall = max(0.0, order_up_to_units - inventory_position_units)
    if shortfall <= _ROUNDING_TOLERANCE:
        return 0.0
    order = _round_up_to_pack(shortfall, pack_size)
    if order < moq:
        order = _round_up_to_pack(float(moq), pack_size)
    return order


def _round_up_to_pack(units: float, pack_size: int) -> float:
    return float(math.ceil(units / pack_size - _ROUNDING_TOLERANCE) * pack_size)


def replenishment_targets(
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
