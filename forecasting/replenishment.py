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
    of approved promotions; one row per series and week); `items` the item master
    (lead_time_std_days optional, NULL = 0; pack_size NULL = 1; moq NULL = 0);
    `inventory_position` holds item_id, location_id, inventory_position_units (a series without
    one gets NULL position and NULL order); `backtest_points` the shipped model's rows of
    forecast.backtest_points. A series with too few backtest windows takes the median σ per
    forecast unit of its item's other stores (basis 'item_relative'), or no forecast-error term
    at all (basis 'none').

    Every step is an array operation over all series at once (rows are tagged with their
    series' number and summed with np.bincount / grouped by it); it computes what
    `forecast_over_days`, `protection_sigma`, `sigma_protection` … `suggested_order` compute
    for one series, which tests/forecasting/test_replenishment_equivalence.py checks against
    the per-series loop kept in tests/forecasting/replenishment_reference.py.
    """
    as_of = pd.Timestamp(as_of_date).date()
    z = z_value(service_level)
    optional = ("is_promoted",)
    forecast = _require(weekly_forecast, "weekly_forecast", FORECAST_COLUMNS, optional, copy_all=False)
    master = _item_master(items)
    positions = _positions(inventory_position)
    points = _require(backtest_points, "backtest_points", BACKTEST_COLUMNS, copy_all=False)

    _check_one_row_per_week(forecast)
    _check_horizons(points)
    missing_items = sorted(set(pd.unique(forecast["item_id"])) - set(master.index))
    if missing_items:
        raise ValueError(
            f"items lacks item_id {missing_items[:5]} that the weekly forecast has; "
            "every forecast item needs its lead time, pack size and MOQ"
        )

    # Series = item × location in sorted order (as groupby(sort=True) would give them).
    item_codes, item_uniques = pd.factorize(forecast["item_id"], sort=True)
    location_codes, location_uniques = pd.factorize(forecast["location_id"], sort=True)
    keyed = (item_codes >= 0) & (location_codes >= 0)  # a NULL id forms no series
    n_locations = max(len(location_uniques), 1)
    pair = item_codes.astype(np.int64) * n_locations + location_codes
    series_pairs, row_series = _sorted_codes(pair[keyed])
    n_series = len(series_pairs)
    if n_series == 0:
        return conform(pd.DataFrame({c: [] for c in REPLENISHMENT_TARGETS}), REPLENISHMENT_TARGETS)
    series_item = np.asarray(item_uniques)[series_pairs // n_locations]
    series_location = np.asarray(location_uniques)[series_pairs % n_locations]

    # Rows in series order, each series' weeks in date order (NaT last, as sort_values puts it).
    week_end = pd.to_datetime(forecast["week_end_date"]).to_numpy("datetime64[D]")[keyed]
    no_date = np.isnat(week_end)
    day = np.where(no_date, 0, (week_end - np.datetime64(as_of, "D")).astype(np.int64))  # days after as_of
    order = np.lexsort((np.where(no_date, np.iinfo(np.int64).max, day), row_series))
    row_series, day, no_date = row_series[order], day[order], no_date[order]
    rows = np.flatnonzero(keyed)[order]
    predicted = forecast["predicted_units"].to_numpy(float)[rows]
    baseline = forecast["baseline_units"].to_numpy(float)[rows]
    first_row = np.flatnonzero(np.r_[True, row_series[1:] != row_series[:-1]])
    last_row = np.r_[first_row[1:] - 1, len(row_series) - 1]

    lead_time = master["lead_time_days"].reindex(series_item).to_numpy(np.int64)
    lead_time_std = master["lead_time_std_days"].reindex(series_item).to_numpy(float)
    pack_size = master["pack_size"].reindex(series_item).to_numpy(np.int64)
    moq = master["moq"].reindex(series_item).to_numpy(np.int64)
    if review_period_days < 0:
        protection_period_days(review_period_days, int(lead_time[0]))  # raises, naming the first series
    period = review_period_days + lead_time

    # Forecast over the lead time and over P: week w covers days w−6 … w; the share inside
    # days 1 … D after as_of counts, days past the last forecast week run at its baseline.
    ahead = ~no_date & (day >= 1)
    beyond = baseline[last_row]
    lead_time_units = _forecast_over_days(row_series, day, predicted, ahead, lead_time, beyond, n_series)
    protection_units = _forecast_over_days(row_series, day, predicted, ahead, period, beyond, n_series)

    # Is an approved promotion live in any forecast week overlapping P?
    if "is_promoted" in forecast.columns:
        flagged = forecast["is_promoted"].fillna(False).astype(bool).to_numpy()[rows]
    else:
        flagged = predicted > baseline
    live = ahead & (day - (DAYS_PER_WEEK - 1) <= period[row_series]) & flagged
    promoted_ahead = np.bincount(row_series[live], minlength=n_series) > 0

    error_sigma, basis, windows = _protection_sigmas(
        points, item_uniques, location_uniques, n_locations, series_pairs, period, promoted_ahead, min_windows
    )
    targets = pd.DataFrame(
        {
            "item_id": series_item,
            "location_id": series_location,
            "forecast_protection_units": protection_units,
            "error_sigma": error_sigma,
            "sigma_basis": basis,
        }
    )
    _borrow_item_sigma(targets)
    error_sigma = targets["error_sigma"].to_numpy(float)

    # σ_P, safety stock, reorder point, order-up-to (sigma_protection … order_up_to).
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_daily = np.where(period != 0, protection_units / np.where(period != 0, period, 1), 0.0)
    sigma = np.sqrt(error_sigma**2 + mean_daily**2 * lead_time_std**2)
    safety = z * sigma
    up_to = protection_units + safety
    position = _series_values(positions, item_uniques, location_uniques, n_locations, series_pairs)
    order_units = _suggested_orders(up_to, position, pack_size, moq)

    result = pd.DataFrame(
        {
            "item_id": series_item,
            "location_id": series_location,
            "as_of_date": [as_of] * n_series,
            "lead_time_days": lead_time,
            "review_period_days": review_period_days,
            "protection_period_days": period,
            "forecast_lead_time_units": lead_time_units,
            "forecast_protection_units": protection_units,
            "sigma_protection_units": sigma,
            "service_level": service_level,
            "z_value": z,
            "safety_stock_units": safety,
            "reorder_point_units": lead_time_units + safety,
            "order_up_to_units": up_to,
            "inventory_position_units": position,
            "pack_size": pack_size,
            "moq": moq,
            "suggested_order_units": order_units,
            "method": forecast["method"].iloc[rows[first_row]].to_numpy(),
            "model_version": forecast["model_version"].iloc[rows[first_row]].to_numpy(),
            "sigma_basis": targets["sigma_basis"].to_numpy(),
            "sigma_windows": windows,
        }
    )
    return conform(result, REPLENISHMENT_TARGETS)


def _forecast_over_days(
    row_series: np.ndarray,
    day: np.ndarray,
    units: np.ndarray,
    ahead: np.ndarray,
    days: np.ndarray,
    beyond: np.ndarray,
    n_series: int,
) -> np.ndarray:
    """`forecast_over_days` for every series at once.

    Rows are forecast weeks (sorted by series, then date) with `day` = week end − as_of in days;
    `days` and `beyond` are per series. Sums run in row order, as the per-series loop adds them.
    """
    last_day = days[row_series]
    overlap = np.minimum(day, last_day) - np.maximum(day - (DAYS_PER_WEEK - 1), 1) + 1
    counted = ahead & (overlap > 0)
    series = row_series[counted]
    total = np.bincount(series, weights=units[counted] * overlap[counted] / DAYS_PER_WEEK, minlength=n_series)
    covered = np.bincount(series, weights=overlap[counted], minlength=n_series)
    uncovered = np.maximum(days - covered, 0)
    return np.where(days > 0, total + beyond * uncovered / DAYS_PER_WEEK, 0.0)


def _protection_sigmas(
    points: pd.DataFrame,
    item_uniques: pd.Index,
    location_uniques: pd.Index,
    n_locations: int,
    series_pairs: np.ndarray,
    period: np.ndarray,
    promoted_ahead: np.ndarray,
    min_windows: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`protection_sigma` for every series at once: (σ or NaN, basis, windows) per series."""
    n_series = len(series_pairs)
    point_series = _series_of(points, item_uniques, location_uniques, n_locations, series_pairs)
    points = points[point_series >= 0]
    point_series = point_series[point_series >= 0]
    horizon = points["horizon_weeks"].to_numpy(np.int64)
    has_points = np.bincount(point_series, minlength=n_series) > 0
    max_horizon = np.full(n_series, np.iinfo(np.int64).min)
    np.maximum.at(max_horizon, point_series, horizon)
    max_horizon[~has_points] = 0  # unused: such a series has basis no_backtest
    needed = np.minimum(-(-period // DAYS_PER_WEEK), max_horizon)
    covered_days = np.minimum(period, needed * DAYS_PER_WEEK)

    # Each point's weight: the share of its forecast week inside the covered days (window_weights).
    kept = horizon <= needed[point_series]
    points, point_series, horizon = points[kept], point_series[kept], horizon[kept]
    weight = np.clip(covered_days[point_series] - DAYS_PER_WEEK * (horizon - 1), 0, DAYS_PER_WEEK) / DAYS_PER_WEEK
    error = points["predicted_units"].to_numpy(float) - points["actual_units"].to_numpy(float)
    promoted = points["is_promoted"].to_numpy(bool) & (weight > 0)

    # Windows = series × origin; complete when every week 1 … needed was scored.
    origin_codes, origins = pd.factorize(points["origin_date"])
    dated = origin_codes >= 0
    window_key = point_series[dated].astype(np.int64) * max(len(origins), 1) + origin_codes[dated]
    window_keys, point_window = _sorted_codes(window_key)
    n_windows_all = len(window_keys)
    window_series = window_keys // max(len(origins), 1)
    # The same grouped sum as the per-series path (pandas' compensated sum, NaN skipped).
    window_error = (
        pd.Series(error[dated] * weight[dated]).groupby(point_window).sum().to_numpy(float)
        if n_windows_all
        else np.zeros(0)
    )
    window_promoted = np.bincount(point_window[promoted[dated]], minlength=n_windows_all) > 0
    # Distinct forecast weeks per window (nunique, so a repeated point does not count twice).
    span = int(horizon.max(initial=0)) + 1
    week_pairs = pd.unique(point_window.astype(np.int64) * span + horizon[dated])
    window_weeks = np.bincount(week_pairs // span, minlength=n_windows_all)
    complete = window_weeks == needed[window_series]
    matching = complete & (window_promoted == promoted_ahead[window_series])

    squared = window_error**2
    n_all = np.bincount(window_series[complete], minlength=n_series)
    n_matching = np.bincount(window_series[matching], minlength=n_series)
    sum_all = np.bincount(window_series[complete], weights=squared[complete], minlength=n_series)
    sum_matching = np.bincount(window_series[matching], weights=squared[matching], minlength=n_series)

    own_kind = n_matching >= min_windows
    chosen_n = np.where(own_kind, n_matching, n_all)
    chosen_sum = np.where(own_kind, sum_matching, sum_all)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(chosen_sum / chosen_n) * np.sqrt(period / np.where(covered_days > 0, covered_days, 1))
    kind = np.where(promoted_ahead, "backtest_promoted_windows", "backtest_regular_windows")
    enough = n_all >= min_windows
    no_period = period <= 0
    no_backtest = ~no_period & (~has_points | ~enough)
    basis = np.where(no_period, "no_protection_period",
                     np.where(no_backtest, "no_backtest", np.where(own_kind, kind, "backtest_all_windows")))
    sigma = np.where(no_period, 0.0, np.where(no_backtest, np.nan, sigma))
    windows = np.where(no_period | ~has_points, 0, chosen_n)  # too few: chosen_n = n_all, all of them
    return sigma, basis.astype(object), windows


def _suggested_orders(up_to: np.ndarray, position: np.ndarray, pack_size: np.ndarray, moq: np.ndarray) -> np.ndarray:
    """`suggested_order` for every series; NaN where the inventory position is unknown."""
    if (pack_size < 1).any():
        raise ValueError(f"pack_size must be >= 1, got {int(pack_size[pack_size < 1][0])}")
    gap = up_to - position
    # max(0.0, gap) keeps 0.0 when gap is NaN (an unknown order-up-to orders nothing).
    shortfall = np.where(gap > 0.0, gap, 0.0)
    packs = np.ceil(shortfall / pack_size - _ROUNDING_TOLERANCE) * pack_size
    moq_packs = np.ceil(moq / pack_size - _ROUNDING_TOLERANCE) * pack_size
    order = np.where(packs < moq, moq_packs, packs)
    order = np.where(shortfall <= _ROUNDING_TOLERANCE, 0.0, order)
    return np.where(np.isnan(position), np.nan, order)


def _series_of(
    frame: pd.DataFrame, item_uniques: pd.Index, location_uniques: pd.Index, n_locations: int, series_pairs: np.ndarray
) -> np.ndarray:
    """The forecast series number of each row of `frame` (item_id, location_id), −1 if none."""
    item = _codes_in(frame["item_id"], item_uniques)
    location = _codes_in(frame["location_id"], location_uniques)
    pair = item.astype(np.int64) * n_locations + location
    slot = np.clip(np.searchsorted(series_pairs, pair), 0, len(series_pairs) - 1)
    found = (item >= 0) & (location >= 0) & (series_pairs[slot] == pair)
    return np.where(found, slot, -1)


def _codes_in(values: pd.Series, uniques: pd.Index) -> np.ndarray:
    """Position of each value in `uniques`, −1 when absent (hashing the distinct values only)."""
    codes, distinct = pd.factorize(values)
    positions = np.append(pd.Index(uniques).get_indexer(distinct), -1)  # code −1 (NULL) → −1
    return positions[codes]


def _sorted_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, return_inverse=True) by hashing: the sorted distinct keys and each key's rank."""
    codes, distinct = pd.factorize(keys)
    distinct = np.asarray(distinct)
    order = np.argsort(distinct, kind="stable")
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    return distinct[order], rank[codes]


def _series_values(
    values: pd.DataFrame, item_uniques: pd.Index, location_uniques: pd.Index, n_locations: int, series_pairs: np.ndarray
) -> np.ndarray:
    """Per series, the `value` of its row in `values` (unique item_id, location_id), NaN without one."""
    out = np.full(len(series_pairs), np.nan)
    series = _series_of(values, item_uniques, location_uniques, n_locations, series_pairs)
    found = series >= 0
    out[series[found]] = values["value"].to_numpy(float)[found]
    return out


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


def _check_one_row_per_week(forecast: pd.DataFrame) -> None:
    """Two rows for one series and week would be summed: refuse them with the first such key."""
    keys = forecast[["item_id", "location_id", "week_end_date"]]
    repeated = keys[keys.duplicated(keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        raise ValueError(
            f"weekly_forecast has {len(repeated)} rows sharing an item_id, location_id and week_end_date "
            f"(first: {first['item_id']}, {first['location_id']}, {first['week_end_date']}); "
            "it must hold one row per series and week"
        )


def _check_horizons(points: pd.DataFrame) -> None:
    """Backtest horizons are whole weeks from 1: a NULL or a horizon below 1 is an error, not a weight."""
    horizon = pd.to_numeric(points["horizon_weeks"], errors="coerce")
    bad = horizon.isna() | (horizon < 1) | (horizon != horizon.round())
    if bad.any():
        row = points.index[bad.to_numpy()][0]
        raise ValueError(
            f"backtest_points has {int(bad.sum())} rows whose horizon_weeks is not a whole number >= 1 "
            f"(first: row {row}, value {points['horizon_weeks'].loc[row]!r})"
        )


def _require(
    frame: pd.DataFrame, name: str, columns: tuple[str, ...], optional: tuple[str, ...] = (), copy_all: bool = True
) -> pd.DataFrame:
    """A copy of `frame` (every column, or only `columns` and the `optional` ones present) with text ids."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; expected at least {list(columns)}")
    if copy_all:
        out = frame.copy()
    else:
        out = frame[[*columns, *(c for c in optional if c in frame.columns and c not in columns)]].copy()
    for column in ("item_id", "location_id"):
        if column in out.columns:
            out[column] = out[column].astype(str)
    return out


def _item_master(items: pd.DataFrame) -> pd.DataFrame:
    """The item master indexed by item_id: lead_time_days, lead_time_std_days, pack_size, moq, defaults applied."""
    frame = _require(items, "items", ITEM_COLUMNS)
    duplicated = frame[frame["item_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(
            f"items row {duplicated.index[0]}: item_id {duplicated['item_id'].iloc[0]!r} "
            "appears more than once; expected the current item master, one row per item"
        )
    lead_time = pd.to_numeric(frame["lead_time_days"], errors="coerce")
    bad = frame["lead_time_days"].isna() | lead_time.isna() | (lead_time < 0)
    if bad.any():
        index, row = next(frame[bad.to_numpy()].iterrows())
        raise ValueError(
            f"items row {index}: item_id {row['item_id']!r} has lead_time_days "
            f"{row['lead_time_days']!r}; expected a whole number of days >= 0"
        )
    if "lead_time_std_days" in frame.columns:
        lead_time_std = pd.to_numeric(frame["lead_time_std_days"], errors="coerce").astype(float).fillna(0.0)
    else:
        lead_time_std = pd.Series(0.0, index=frame.index)
    pack_size = pd.to_numeric(frame["pack_size"], errors="coerce")
    moq = pd.to_numeric(frame["moq"], errors="coerce")
    return pd.DataFrame(
        {
            "lead_time_days": np.trunc(lead_time.to_numpy(float)).astype(np.int64),
            "lead_time_std_days": lead_time_std.to_numpy(float),
            "pack_size": np.where(pack_size.isna() | (pack_size < 1), 1, np.trunc(pack_size.fillna(1))).astype(int),
            "moq": np.where(moq.isna() | (moq < 0), 0, np.trunc(moq.fillna(0))).astype(int),
        },
        index=pd.Index(frame["item_id"].to_numpy(), name="item_id"),
    )


def _positions(inventory_position: pd.DataFrame) -> pd.DataFrame:
    """item_id, location_id, value = the known (non-NULL) inventory positions, one row per series."""
    name, value_column = "inventory_position", "inventory_position_units"
    table = _require(inventory_position, name, ("item_id", "location_id", value_column), copy_all=False)
    duplicated = table[table.duplicated(["item_id", "location_id"])]
    if not duplicated.empty:
        raise ValueError(
            f"{name} row {duplicated.index[0]}: item_id {duplicated['item_id'].iloc[0]!r}, "
            f"location_id {duplicated['location_id'].iloc[0]!r} appears more than once"
        )
    table = table[table[value_column].notna()]
    return pd.DataFrame(
        {"item_id": table["item_id"], "location_id": table["location_id"], "value": table[value_column].astype(float)}
    )
