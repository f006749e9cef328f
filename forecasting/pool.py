"""Forecast every item × location series: checked inputs, Prophet fits in a process pool, the
pooled model at the origin, and the forecast.* frames (weekly demand, promotion uplift, fit log).
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import pandas as pd

from forecasting.config import ForecastConfig
from forecasting.demand import ProphetFit, SeriesRows, fit_batch
from forecasting.model import forecast_at_origin
from forecasting.panel import PROMOTION_INPUTS, SERIES_KEY, Panel, build_panel
from forecasting.tables import DEMAND_WEEKLY, PROMOTION_UPLIFT, SERIES_FIT_LOG, conform, empty_frame

DEMAND_COLUMNS: tuple[str, ...] = (
    "item_id",
    "location_id",
    "week_end_date",
    "units",
    *PROMOTION_INPUTS,
    "is_promoted",
)
PROMOTION_WEEK_COLUMNS: tuple[str, ...] = (
    "promotion_id",
    "item_id",
    "location_id",
    "week_end_date",
    *PROMOTION_INPUTS,
)
# forecast.demand_weekly.method / series_fit_log.method
POOLED_WITH_PROPHET = "pooled_lift+prophet"
POOLED = "pooled_lift"


@dataclass
class ForecastResult:
    """The forecast.* frames of one run."""

    demand_weekly: pd.DataFrame
    promotion_uplift: pd.DataFrame
    series_fit_log: pd.DataFrame


@dataclass
class ProphetFits:
    """Prophet predictions per fit origin: (S, W) arrays (NaN rows = not fitted), reasons, seconds."""

    predicted: dict[int, np.ndarray]
    reasons: dict[int, np.ndarray]
    seconds: dict[int, np.ndarray]


def checked_inputs(
    demand: pd.DataFrame, promotion_weeks: pd.DataFrame, forecast_origin: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp | None]:
    """Validate int_demand_weekly and int_promotion_weeks rows; returns them typed, and the origin.

    Errors name the table, the row and the column. The origin (last history week) defaults
    to the latest week in `demand`; None when `demand` is empty.
    """
    demand = _checked_demand(demand)
    promotion_weeks = _checked_promotion_weeks(promotion_weeks)
    if demand.empty:
        return demand, promotion_weeks, None
    origin = demand["week_end_date"].max() if forecast_origin is None else pd.Timestamp(forecast_origin).normalize()
    _check_week_grid(demand, "int_demand_weekly", origin)
    _check_week_grid(promotion_weeks, "int_promotion_weeks", origin)
    late = demand[demand["week_end_date"] > origin]
    if not late.empty:
        raise ValueError(
            f"int_demand_weekly row {late.index[0]}: week_end_date "
            f"{late['week_end_date'].iloc[0].date()} is after the forecast origin {origin.date()}"
        )
    return demand, promotion_weeks, origin


def forecast_all(
    demand: pd.DataFrame,
    promotion_weeks: pd.DataFrame,
    config: ForecastConfig | None = None,
    *,
    forecast_origin: pd.Timestamp | None = None,
    item_categories: pd.DataFrame | None = None,
) -> ForecastResult:
    """Forecast all series of intermediate.int_demand_weekly with int_promotion_weeks' promotions.

    Every series' history runs from its first sale to the origin and its horizon is the
    `horizon_weeks` weeks after the origin. `item_categories` (item_id, category) lets thinly
    promoted items borrow their category's promotion effect.
    """
    config = config or ForecastConfig()
    demand, promotion_weeks, origin = checked_inputs(demand, promotion_weeks, forecast_origin)
    if origin is None:
        return ForecastResult(empty_frame(DEMAND_WEEKLY), empty_frame(PROMOTION_UPLIFT), empty_frame(SERIES_FIT_LOG))
    panel = build_panel(demand, promotion_weeks, origin, config.horizon_weeks, item_categories)
    fits = prophet_fits(panel, [panel.origin_index], config)
    forecast = forecast_at_origin(panel, panel.origin_index, config, fits.predicted[panel.origin_index])

    weekly = _weekly_frame(panel, forecast, config)
    fit_log = _fit_log(panel, forecast, fits, config)
    return ForecastResult(
        demand_weekly=weekly,
        promotion_uplift=promotion_uplift(weekly, promotion_weeks),
        series_fit_log=fit_log,
    )


def prophet_fits(panel: Panel, fit_origins: Sequence[int], config: ForecastConfig) -> ProphetFits:
    """Fit Prophet for every series at every origin in `fit_origins`, in `config.workers` processes."""
    series_count, weeks = panel.series_count, panel.weeks.size
    origins = list(fit_origins)
    predicted = {o: np.full((series_count, weeks), np.nan) for o in origins}
    reasons = {o: np.full(series_count, None, dtype=object) for o in origins}
    seconds = {o: np.zeros(series_count) for o in origins}
    if config.prophet_weight == 0 or series_count == 0:
        for o in origins:
            reasons[o][:] = "prophet_weight is 0"
        return ProphetFits(predicted, reasons, seconds)
    rows = [
        SeriesRows(
            position=s,
            units=panel.units[s],
            discount_depth=panel.discount_depth[s],
            feature=panel.feature[s],
            display=panel.display[s],
            first_index=int(panel.first_index[s]),
        )
        for s in range(series_count)
    ]
    for fit in _run_batches(rows, panel.weeks, origins, config):
        reasons[fit.fit_origin][fit.position] = fit.reason
        seconds[fit.fit_origin][fit.position] = fit.fit_seconds
        if fit.predicted is not None:
            predicted[fit.fit_origin][fit.position] = fit.predicted
    return ProphetFits(predicted, reasons, seconds)


def promotion_uplift(demand_weekly: pd.DataFrame, promotion_weeks: pd.DataFrame) -> pd.DataFrame:
    """Per promotion × item × location: predicted, baseline and uplift summed over its weeks.

    Only weeks the forecast covers count (history from the series' first sale, and the
    horizon); `promo_weeks`, `start_date` and `end_date` describe those covered weeks.
    Overlapping promotions on one series each get the full uplift of a shared week: the
    marts flag overlaps rather than split them. The interval is the pooled promotion effect's
    (its β at the ends of its 80% interval), summed over the weeks.
    """
    weekly = demand_weekly.copy()
    weekly["week_end_date"] = pd.to_datetime(weekly["week_end_date"])
    touched = promotion_weeks.loc[:, ["promotion_id", *SERIES_KEY, "week_end_date"]].copy()
    touched["week_end_date"] = pd.to_datetime(touched["week_end_date"])
    touched = touched.drop_duplicates()
    rows = touched.merge(weekly, on=[*SERIES_KEY, "week_end_date"], how="inner")
    if rows.empty:
        return empty_frame(PROMOTION_UPLIFT)
    grouped = rows.groupby(["promotion_id", *SERIES_KEY], sort=True).agg(
        first_week=("week_end_date", "min"),
        end_date=("week_end_date", "max"),
        promo_weeks=("week_end_date", "size"),
        predicted_units=("predicted_units", "sum"),
        baseline_units=("baseline_units", "sum"),
        uplift_lower=("uplift_lower_units", "sum"),
        uplift_upper=("uplift_upper_units", "sum"),
        method=("method", "first"),
        model_version=("model_version", "first"),
    )
    grouped = grouped.reset_index()
    grouped["start_date"] = grouped["first_week"] - pd.Timedelta(days=6)
    grouped["uplift_units"] = grouped["predicted_units"] - grouped["baseline_units"]
    grouped["uplift_pct"] = grouped["uplift_units"] / grouped["baseline_units"].where(grouped["baseline_units"] != 0)
    return conform(grouped, PROMOTION_UPLIFT)


def _weekly_frame(panel: Panel, forecast, config: ForecastConfig) -> pd.DataFrame:
    weeks = panel.weeks.size
    covered = np.arange(weeks)[None, :] >= panel.first_index[:, None]
    rows, cols = np.nonzero(covered)
    method = np.where(forecast.uses_prophet, POOLED_WITH_PROPHET, POOLED)
    weekly = pd.DataFrame(
        {
            "item_id": panel.keys["item_id"].to_numpy()[rows],
            "location_id": panel.keys["location_id"].to_numpy()[rows],
            "week_end_date": panel.weeks[cols],
            "is_history": cols <= panel.origin_index,
            "actual_units": panel.units[rows, cols],
            "predicted_units": forecast.predicted[rows, cols],
            "baseline_units": forecast.baseline[rows, cols],
            "predicted_lower": forecast.predicted_lower[rows, cols],
            "predicted_upper": forecast.predicted_upper[rows, cols],
            "method": method[rows],
            "model_version": config.model_version,
            "is_promoted": panel.promoted[rows, cols],
            "uplift_lower_units": forecast.uplift_lower[rows, cols],
            "uplift_upper_units": forecast.uplift_upper[rows, cols],
        }
    )
    return conform(weekly, DEMAND_WEEKLY)


def _fit_log(panel: Panel, forecast, fits: ProphetFits, config: ForecastConfig) -> pd.DataFrame:
    origin = panel.origin_index
    history = np.arange(panel.weeks.size)[None, :] <= origin
    observed = panel.observed & history
    reasons = fits.reasons[origin]
    log = pd.DataFrame(
        {
            "item_id": panel.keys["item_id"],
            "location_id": panel.keys["location_id"],
            "history_weeks": observed.sum(axis=1),
            "promoted_weeks": (panel.promoted & observed).sum(axis=1),
            "nonzero_weeks": (observed & (np.nan_to_num(panel.units) != 0)).sum(axis=1),
            "method": np.where(forecast.uses_prophet, POOLED_WITH_PROPHET, POOLED),
            "status": np.where(forecast.uses_prophet, "fitted", "fallback"),
            "reason": reasons,
            "fit_seconds": fits.seconds[origin],
            "promotion_effect_source": forecast.effects.source,
            "promotion_effect_weeks": forecast.effects.promoted_weeks_used,
            "store_lift_multiplier": forecast.effects.store_multiplier,
            "level_source": forecast.level_source,
        }
    )
    return conform(log, SERIES_FIT_LOG)


def _run_batches(
    rows: list[SeriesRows], weeks: pd.DatetimeIndex, fit_origins: list[int], config: ForecastConfig
) -> list[ProphetFit]:
    workers = min(config.workers, len(rows))
    if workers <= 1:
        return fit_batch(rows, weeks, fit_origins, config)
    # Small runs still use every worker; large ones go in batches of `batch_size`.
    size = min(config.batch_size, math.ceil(len(rows) / workers))
    batches = [rows[i : i + size] for i in range(0, len(rows), size)]
    # 'spawn' starts clean interpreters: forking a Dagster run process (threads, open
    # DuckDB handles, gRPC) is unsafe, and forkserver would inherit the caller's main module.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        results = pool.map(fit_batch, batches, repeat(weeks), repeat(fit_origins), repeat(config))
        return [fit for batch in results for fit in batch]


def _checked_demand(demand: pd.DataFrame) -> pd.DataFrame:
    frame = _checked_frame(
        demand, "int_demand_weekly", DEMAND_COLUMNS, not_null=("item_id", "location_id", "week_end_date", "units")
    )
    frame["is_promoted"] = frame["is_promoted"].astype("boolean").fillna(False).astype(bool)
    duplicated = frame[frame.duplicated([*SERIES_KEY, "week_end_date"])]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        raise ValueError(
            f"int_demand_weekly row {duplicated.index[0]}: item_id {row['item_id']!r}, "
            f"location_id {row['location_id']!r}, week_end_date {row['week_end_date'].date()} "
            "appears more than once; expected one row per item × location × week"
        )
    return frame


def _checked_promotion_weeks(promotion_weeks: pd.DataFrame) -> pd.DataFrame:
    return _checked_frame(
        promotion_weeks,
        "int_promotion_weeks",
        PROMOTION_WEEK_COLUMNS,
        not_null=("promotion_id", "item_id", "location_id", "week_end_date"),
    )


def _checked_frame(frame: pd.DataFrame, name: str, columns: Sequence[str], not_null: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; expected at least {list(columns)}")
    out = frame.loc[:, list(columns)].copy()
    for column in not_null:
        nulls = out[out[column].isna()]
        if not nulls.empty:
            raise ValueError(f"{name} row {nulls.index[0]}: column {column} is NULL")
    for column in ("item_id", "location_id", "promotion_id"):
        if column in out.columns:
            out[column] = out[column].astype(str)
    try:
        out["week_end_date"] = pd.to_datetime(out["week_end_date"]).dt.normalize()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: column week_end_date is not a date: {exc}") from exc
    for column in ("units", *PROMOTION_INPUTS):
        if column not in out.columns:
            continue
        numbers = pd.to_numeric(out[column], errors="coerce")
        bad = out[numbers.isna() & out[column].notna()]
        if not bad.empty:
            raise ValueError(
                f"{name} row {bad.index[0]}: column {column} is {bad[column].iloc[0]!r}, expected a number"
            )
        out[column] = numbers.astype(float)
    return out


def _check_week_grid(frame: pd.DataFrame, name: str, origin: pd.Timestamp) -> None:
    off_grid = frame[((frame["week_end_date"] - origin).dt.days % 7) != 0]
    if not off_grid.empty:
        raise ValueError(
            f"{name} row {off_grid.index[0]}: week_end_date "
            f"{off_grid['week_end_date'].iloc[0].date()} does not end a week on the same "
            f"weekday as the forecast origin {origin.date()} ({origin.day_name()})"
        )
