"""The per-series Prophet member of the demand model (DESIGN §6): one Prophet fit per
item × location series with discount depth, feature and display as multiplicative regressors.

Measured on Breakfast at the Frat (docs/benchmarks.md), Prophet alone forecasts non-promoted
weeks far worse than a recent level, but its promoted-week forecasts carry information the
pooled model lacks; the model therefore uses Prophet for a share of promoted weeks only
(`forecasting.model`). Series that are too short or sparse are not fitted, and a fit that
raises is recorded: neither ever stops the run.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.config import ForecastConfig

PROPHET_INPUTS: tuple[str, ...] = ("discount_depth", "feature", "display")


@dataclass
class SeriesRows:
    """One series' rows of the panel, picklable for a worker process."""

    position: int  # row of the series in the panel
    units: np.ndarray  # (W,) NaN before the first sale (and after the origin in production)
    discount_depth: np.ndarray  # (W,)
    feature: np.ndarray  # (W,)
    display: np.ndarray  # (W,)
    first_index: int


@dataclass
class ProphetFit:
    """Prophet's prediction (with the weeks' promotion inputs) for weeks first_index … W−1, or why none."""

    position: int
    fit_origin: int
    predicted: np.ndarray | None  # (W,) NaN before the series' first week
    reason: str | None  # None when fitted
    fit_seconds: float = 0.0


def quiet_prophet_logging() -> None:
    """Silence Prophet's and cmdstanpy's per-fit chatter (called in every worker process)."""
    # `disabled` rather than a level: prophet resets its logger's level when imported.
    for name in ("prophet", "prophet.plot", "prophet.models", "cmdstanpy"):
        logging.getLogger(name).disabled = True


def prophet_gate(units: np.ndarray, config: ForecastConfig) -> str | None:
    """Why a history (first sale … origin) is not fitted with Prophet, or None when it is."""
    nonzero = int((units != 0).sum())
    if nonzero == 0:
        return "all weeks have zero units"
    if units.size < config.min_history_weeks:
        return f"history of {units.size} weeks is shorter than {config.min_history_weeks}"
    if nonzero < config.min_nonzero_weeks:
        return f"only {nonzero} non-zero weeks, fewer than {config.min_nonzero_weeks}"
    return None


def fit_series(rows: SeriesRows, weeks: pd.DatetimeIndex, fit_origin: int, config: ForecastConfig) -> ProphetFit:
    """Fit Prophet on weeks first_index … fit_origin and predict every week of the grid after the first."""
    started = time.perf_counter()
    history = rows.units[rows.first_index : fit_origin + 1]
    reason = prophet_gate(history, config) if history.size else "no history before the origin"
    if reason is not None:
        return ProphetFit(rows.position, fit_origin, None, reason)
    try:
        predicted = _prophet_predict(rows, weeks, fit_origin, config)
    except Exception as exc:  # one bad series must never stop the run
        reason = f"prophet fit failed: {type(exc).__name__}: {exc}"[:500]
        return ProphetFit(rows.position, fit_origin, None, reason, time.perf_counter() - started)
    return ProphetFit(rows.position, fit_origin, predicted, None, time.perf_counter() - started)


def fit_batch(
    batch: list[SeriesRows], weeks: pd.DatetimeIndex, fit_origins: list[int], config: ForecastConfig
) -> list[ProphetFit]:
    """Every (series, fit origin) of a batch; runs inside a worker process (or in-process)."""
    quiet_prophet_logging()
    import prophet  # noqa: F401  # imported up front so its 1-2 s import is not booked as a fit

    return [fit_series(rows, weeks, origin, config) for rows in batch for origin in fit_origins]


def _prophet_predict(rows: SeriesRows, weeks: pd.DatetimeIndex, fit_origin: int, config: ForecastConfig) -> np.ndarray:
    from prophet import Prophet  # imported late: slow, and logs on import

    first = rows.first_index
    history_weeks = fit_origin + 1 - first
    yearly: int | bool = config.yearly_fourier_order if history_weeks >= config.yearly_seasonality_min_weeks else False
    model = Prophet(
        growth="linear",
        yearly_seasonality=yearly,
        weekly_seasonality=False,  # one observation per week: no within-week cycle to see
        daily_seasonality=False,
        # Demand behaves as base × season × promotion lift: a 25% discount adds a share of the
        # current level, not a fixed number of units.
        seasonality_mode="multiplicative",
        changepoint_prior_scale=config.changepoint_prior_scale,
        # Intervals come from the pooled model and the backtest; sampling them here would
        # triple the cost of predict for nothing.
        uncertainty_samples=0,
    )
    # standardize=False keeps zero meaning "no promotion", so the priors are on the lift scale.
    model.add_regressor("discount_depth", prior_scale=config.discount_prior_scale, standardize=False,
                        mode="multiplicative")
    for flag in ("feature", "display"):
        model.add_regressor(flag, prior_scale=config.feature_display_prior_scale, standardize=False,
                            mode="multiplicative")
    span = slice(first, fit_origin + 1)
    train = pd.DataFrame(
        {
            "ds": weeks[span],
            "y": rows.units[span],
            "discount_depth": rows.discount_depth[span],
            "feature": rows.feature[span],
            "display": rows.display[span],
        }
    )
    ahead = slice(first, len(weeks))
    future = pd.DataFrame(
        {
            "ds": weeks[ahead],
            "discount_depth": rows.discount_depth[ahead],
            "feature": rows.feature[ahead],
            "display": rows.display[ahead],
        }
    )
    with warnings.catch_warnings():
        # Prophet 1.5 still calls pandas APIs that pandas 3 deprecates; not ours to act on.
        warnings.filterwarnings("ignore", module=r"prophet\.")
        warnings.filterwarnings("ignore", category=FutureWarning)
        model.fit(train, seed=config.random_seed)
        yhat = model.predict(future)["yhat"].to_numpy(float)
    if not np.isfinite(yhat).all():
        raise ValueError("Prophet returned non-finite predictions")
    predicted = np.full(len(weeks), np.nan)
    # Demand cannot be negative, whatever the linear trend extrapolates to.
    predicted[first:] = np.clip(yhat, 0.0, None)
    return predicted
