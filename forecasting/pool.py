"""Forecast every item × location series in a process pool and derive promotion uplift."""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat

import pandas as pd

from forecasting.config import ForecastConfig
from forecasting.demand import (
    PROMOTION_INPUTS,
    SeriesForecast,
    forecast_series,
    quiet_prophet_logging,
)
from forecasting.tables import (
    DEMAND_WEEKLY,
    PROMOTION_UPLIFT,
    RESIDUAL_SIGMA,
    SERIES_FIT_LOG,
    conform,
    empty_frame,
)

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
SERIES_KEY = ["item_id", "location_id"]


@dataclass
class ForecastResult:
    """The forecast.* frames of one run, plus each series' residual spread for replenishment."""

    demand_weekly: pd.DataFrame
    promotion_uplift: pd.DataFrame
    series_fit_log: pd.DataFrame
    residual_sigma: pd.DataFrame  # item_id, location_id, residual_sigma_units


@dataclass
class SeriesInput:
    """What a worker needs to forecast one series (picklable)."""

    item_id: str
    location_id: str
    history: pd.DataFrame
    promotion_weeks: pd.DataFrame


def forecast_all(
    demand: pd.DataFrame,
    promotion_weeks: pd.DataFrame,
    config: ForecastConfig | None = None,
    *,
    forecast_origin: pd.Timestamp | None = None,
) -> ForecastResult:
    """Forecast all series of intermediate.int_demand_weekly with int_promotion_weeks' plans.

    The origin (last history week) defaults to the latest week in `demand`; every series'
    horizon is the `horizon_weeks` weeks after it.
    """
    config = config or ForecastConfig()
    demand = _checked_demand(demand)
    promotion_weeks = _checked_promotion_weeks(promotion_weeks)
    if demand.empty:
        return ForecastResult(
            empty_frame(DEMAND_WEEKLY),
            empty_frame(PROMOTION_UPLIFT),
            empty_frame(SERIES_FIT_LOG),
            empty_frame(RESIDUAL_SIGMA),
        )
    origin = demand["week_end_date"].max() if forecast_origin is None else pd.Timestamp(forecast_origin).normalize()
    _check_week_grid(demand, "int_demand_weekly", origin)
    _check_week_grid(promotion_weeks, "int_promotion_weeks", origin)
    late = demand[demand["week_end_date"] > origin]
    if not late.empty:
        raise ValueError(
            f"int_demand_weekly row {late.index[0]}: week_end_date "
            f"{late['week_end_date'].iloc[0].date()} is after the forecast origin {origin.date()}"
        )

    series = _series_inputs(demand, promotion_weeks)
    forecasts = _run_batches(series, config, origin)

    demand_weekly = pd.concat([f.weekly for f in forecasts], ignore_index=True)
    demand_weekly = demand_weekly.sort_values([*SERIES_KEY, "week_end_date"], ignore_index=True)
    fit_log = pd.DataFrame([f.fit_log for f in forecasts]).sort_values(SERIES_KEY)
    residual_sigma = pd.DataFrame(
        {
            "item_id": [f.fit_log["item_id"] for f in forecasts],
            "location_id": [f.fit_log["location_id"] for f in forecasts],
            "residual_sigma_units": [f.residual_sigma_units for f in forecasts],
        }
    ).sort_values(SERIES_KEY)
    return ForecastResult(
        demand_weekly=conform(demand_weekly, DEMAND_WEEKLY),
        promotion_uplift=promotion_uplift(demand_weekly, promotion_weeks),
        series_fit_log=conform(fit_log, SERIES_FIT_LOG),
        residual_sigma=conform(residual_sigma, RESIDUAL_SIGMA),
    )


def promotion_uplift(demand_weekly: pd.DataFrame, promotion_weeks: pd.DataFrame) -> pd.DataFrame:
    """Per promotion × item × location: predicted, baseline and uplift summed over its weeks.

    Only weeks the forecast covers count (history from the series' first sale, and the
    horizon); `promo_weeks`, `start_date` and `end_date` describe those covered weeks.
    Overlapping promotions on one series each get the full uplift of a shared week: the
    marts flag overlaps rather than split them.
    """
    weekly = demand_weekly.copy()
    weekly["week_end_date"] = pd.to_datetime(weekly["week_end_date"])
    touched = promotion_weeks.loc[:, ["promotion_id", *SERIES_KEY, "week_end_date"]].copy()
    touched["week_end_date"] = pd.to_datetime(touched["week_end_date"])
    touched = touched.drop_duplicates()
    rows = touched.merge(weekly, on=[*SERIES_KEY, "week_end_date"], how="inner")
    if rows.empty:
        return empty_frame(PROMOTION_UPLIFT)
    # Summing the weekly interval ends around the baseline treats the weeks as perfectly
    # correlated and ignores the baseline's own uncertainty: an approximate, wide interval.
    rows["uplift_lower_week"] = rows["predicted_lower"] - rows["baseline_units"]
    rows["uplift_upper_week"] = rows["predicted_upper"] - rows["baseline_units"]
    grouped = rows.groupby(["promotion_id", *SERIES_KEY], sort=True).agg(
        first_week=("week_end_date", "min"),
        end_date=("week_end_date", "max"),
        promo_weeks=("week_end_date", "size"),
        predicted_units=("predicted_units", "sum"),
        baseline_units=("baseline_units", "sum"),
        uplift_lower=("uplift_lower_week", "sum"),
        uplift_upper=("uplift_upper_week", "sum"),
        method=("method", "first"),
        model_version=("model_version", "first"),
    )
    grouped = grouped.reset_index()
    grouped["start_date"] = grouped["first_week"] - pd.Timedelta(days=6)
    grouped["uplift_units"] = grouped["predicted_units"] - grouped["baseline_units"]
    grouped["uplift_pct"] = grouped["uplift_units"] / grouped["baseline_units"].where(grouped["baseline_units"] != 0)
    return conform(grouped, PROMOTION_UPLIFT)


def forecast_batch(batch: Sequence[SeriesInput], config: ForecastConfig, origin: pd.Timestamp) -> list[SeriesForecast]:
    """Forecast a batch of series; runs inside a worker process (or in-process for workers=1)."""
    quiet_prophet_logging()
    # Import Prophet once up front so its ~1-2 s import is not booked as the first fit's time.
    import prophet  # noqa: F401

    return [
        forecast_series(
            s.history,
            s.promotion_weeks,
            config,
            item_id=s.item_id,
            location_id=s.location_id,
            forecast_origin=origin,
        )
        for s in batch
    ]


def _run_batches(series: list[SeriesInput], config: ForecastConfig, origin: pd.Timestamp) -> list[SeriesForecast]:
    workers = min(config.workers, len(series))
    if workers <= 1:
        return forecast_batch(series, config, origin)
    # Small runs still use every worker; large ones go in batches of `batch_size`.
    size = min(config.batch_size, math.ceil(len(series) / workers))
    batches = [series[i : i + size] for i in range(0, len(series), size)]
    # 'spawn' starts clean interpreters: forking a Dagster run process (threads, open
    # DuckDB handles, gRPC) is unsafe, and forkserver would inherit the caller's main module.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        results = pool.map(forecast_batch, batches, repeat(config), repeat(origin))
        return [forecast for batch in results for forecast in batch]


def _series_inputs(demand: pd.DataFrame, promotion_weeks: pd.DataFrame) -> list[SeriesInput]:
    planned = {key: rows.reset_index(drop=True) for key, rows in promotion_weeks.groupby(SERIES_KEY, sort=False)}
    empty_plan = promotion_weeks.iloc[0:0]
    return [
        SeriesInput(
            item_id=str(item_id),
            location_id=str(location_id),
            history=rows.reset_index(drop=True),
            promotion_weeks=planned.get((item_id, location_id), empty_plan),
        )
        for (item_id, location_id), rows in demand.groupby(SERIES_KEY, sort=True)
    ]


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
