"""Weekly demand forecast for one item × location series: Prophet with promotion regressors,
and the flagged 'fallback_mean' method when Prophet cannot be trusted (DESIGN §6).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from forecasting.config import ForecastConfig
from forecasting.tables import DEMAND_WEEKLY, conform

PROMOTION_INPUTS: tuple[str, ...] = ("discount_depth", "feature", "display")
PROPHET = "prophet"
FALLBACK_MEAN = "fallback_mean"
WEEK = pd.Timedelta(days=7)

HISTORY_COLUMNS: tuple[str, ...] = ("week_end_date", "units", *PROMOTION_INPUTS, "is_promoted")
FUTURE_PROMOTION_COLUMNS: tuple[str, ...] = ("week_end_date", *PROMOTION_INPUTS)


@dataclass
class SeriesForecast:
    """One series' forecast rows (forecast.demand_weekly columns), fit-log entry and residual spread."""

    weekly: pd.DataFrame
    fit_log: dict[str, Any]
    residual_sigma_units: float


def quiet_prophet_logging() -> None:
    """Silence Prophet's and cmdstanpy's per-fit chatter (called in every worker process)."""
    # `disabled` rather than a level: prophet resets its logger's level when imported.
    for name in ("prophet", "prophet.plot", "prophet.models", "cmdstanpy"):
        logging.getLogger(name).disabled = True


def forecast_series(
    history: pd.DataFrame,
    future_promotions: pd.DataFrame | None,
    config: ForecastConfig,
    *,
    item_id: str,
    location_id: str,
    forecast_origin: pd.Timestamp | None = None,
) -> SeriesForecast:
    """Forecast one series' history and the `horizon_weeks` after `forecast_origin`.

    `history` holds int_demand_weekly rows of the series; `future_promotions` its
    int_promotion_weeks rows (weeks after the origin set the horizon's promotion inputs).
    """
    started = time.perf_counter()
    weeks = weekly_history(history, forecast_origin)
    origin = weeks["week_end_date"].iloc[-1]
    horizon = horizon_inputs(future_promotions, origin, config.horizon_weeks)

    history_weeks = len(weeks)
    promoted_weeks = int(weeks["is_promoted"].sum())
    nonzero_weeks = int((weeks["units"] != 0).sum())
    reason = fallback_reason(weeks, config)

    predictions: pd.DataFrame | None = None
    if reason is None:
        try:
            predictions = prophet_predictions(weeks, horizon, config)
        except Exception as exc:  # one bad series must never stop the run
            reason = f"prophet fit failed: {type(exc).__name__}: {exc}"[:500]
    method = PROPHET if reason is None else FALLBACK_MEAN
    if predictions is None:
        predictions = fallback_predictions(weeks, horizon, config)

    both = pd.concat([weeks, horizon], ignore_index=True)
    weekly = pd.DataFrame(
        {
            "item_id": item_id,
            "location_id": location_id,
            "week_end_date": both["week_end_date"],
            "is_history": np.r_[np.ones(len(weeks), bool), np.zeros(len(horizon), bool)],
            "actual_units": np.r_[weeks["units"].to_numpy(float), np.full(len(horizon), np.nan)],
            "predicted_units": predictions["predicted"].to_numpy(),
            "baseline_units": predictions["baseline"].to_numpy(),
            "predicted_lower": predictions["lower"].to_numpy(),
            "predicted_upper": predictions["upper"].to_numpy(),
            "method": method,
            "model_version": config.model_version,
        }
    )
    residual_sigma = _residual_sigma(weeks, weekly["predicted_units"].to_numpy()[: len(weeks)])
    fit_log = {
        "item_id": item_id,
        "location_id": location_id,
        "history_weeks": history_weeks,
        "promoted_weeks": promoted_weeks,
        "nonzero_weeks": nonzero_weeks,
        "method": method,
        "status": "fitted" if reason is None else "fallback",
        "reason": reason,
        "fit_seconds": time.perf_counter() - started,
    }
    return SeriesForecast(conform(weekly, DEMAND_WEEKLY), fit_log, residual_sigma)


def weekly_history(history: pd.DataFrame, forecast_origin: pd.Timestamp | None = None) -> pd.DataFrame:
    """The series on a gap-free weekly grid from its first sale to the forecast origin.

    Weeks without a row had no sales: they get 0 units and no promotion inputs, because the
    POS extract only carries item × location × weeks that sold. The grid runs to the origin
    (the last week of the whole extract), not to the series' own last sale, so a series that
    stopped selling is forecast from its recent zeros and every horizon starts on one date.
    """
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"series history lacks columns {missing}; expected {list(HISTORY_COLUMNS)}")
    if history.empty:
        raise ValueError("series history has no rows; a series needs at least one sold week")
    rows = history.loc[:, list(HISTORY_COLUMNS)].copy()
    rows["week_end_date"] = pd.to_datetime(rows["week_end_date"]).dt.normalize()
    rows = rows.sort_values("week_end_date")
    first = rows["week_end_date"].iloc[0]
    last = rows["week_end_date"].iloc[-1]
    origin = last if forecast_origin is None else pd.Timestamp(forecast_origin).normalize()
    if origin < last:
        raise ValueError(f"forecast origin {origin.date()} is before the series' last week {last.date()}")
    off_grid = rows[((rows["week_end_date"] - origin).dt.days % 7) != 0]
    if not off_grid.empty:
        bad = off_grid.iloc[0]
        raise ValueError(
            f"week_end_date {bad['week_end_date'].date()} (row {off_grid.index[0]}) is not a "
            f"week-ending date on the same weekday as the forecast origin {origin.date()}"
        )
    duplicated = rows[rows["week_end_date"].duplicated()]
    if not duplicated.empty:
        raise ValueError(
            f"week_end_date {duplicated['week_end_date'].iloc[0].date()} appears twice in the "
            f"series history (row {duplicated.index[0]}); expected one row per week"
        )
    grid = pd.DataFrame({"week_end_date": pd.date_range(first, origin, freq="7D")})
    weeks = grid.merge(rows, on="week_end_date", how="left")
    weeks["units"] = weeks["units"].astype(float).fillna(0.0)
    for column in PROMOTION_INPUTS:
        weeks[column] = weeks[column].astype(float).fillna(0.0)
    weeks["discount_depth"] = weeks["discount_depth"].clip(0.0, 1.0)
    weeks["is_promoted"] = weeks["is_promoted"].astype("boolean").fillna(False).astype(bool)
    return weeks


def horizon_inputs(future_promotions: pd.DataFrame | None, origin: pd.Timestamp, horizon_weeks: int) -> pd.DataFrame:
    """Promotion inputs of the `horizon_weeks` weeks after `origin` (zero where none is planned).

    Where approved promotions overlap in a week, the deepest discount and any feature or
    display count, since shoppers see the strongest offer on the shelf.
    """
    dates = pd.date_range(origin + WEEK, periods=horizon_weeks, freq="7D")
    horizon = pd.DataFrame({"week_end_date": dates})
    for column in PROMOTION_INPUTS:
        horizon[column] = 0.0
    horizon["is_promoted"] = False
    if future_promotions is None or future_promotions.empty:
        return horizon
    missing = [c for c in FUTURE_PROMOTION_COLUMNS if c not in future_promotions.columns]
    if missing:
        raise ValueError(f"series promotion weeks lack columns {missing}; expected {list(FUTURE_PROMOTION_COLUMNS)}")
    planned = future_promotions.loc[:, list(FUTURE_PROMOTION_COLUMNS)].copy()
    planned["week_end_date"] = pd.to_datetime(planned["week_end_date"]).dt.normalize()
    for column in PROMOTION_INPUTS:
        planned[column] = planned[column].astype(float).fillna(0.0)
    strongest = planned.groupby("week_end_date")[list(PROMOTION_INPUTS)].max()
    matched = horizon["week_end_date"].isin(strongest.index)
    for column in PROMOTION_INPUTS:
        horizon.loc[matched, column] = strongest.loc[horizon.loc[matched, "week_end_date"], column].to_numpy()
    horizon["discount_depth"] = horizon["discount_depth"].clip(0.0, 1.0)
    horizon["is_promoted"] = matched
    return horizon


def fallback_reason(weeks: pd.DataFrame, config: ForecastConfig) -> str | None:
    """Why this series cannot be trusted to Prophet, or None when it can."""
    nonzero = int((weeks["units"] != 0).sum())
    if nonzero == 0:
        return "all weeks have zero units"
    if len(weeks) < config.min_history_weeks:
        return f"history of {len(weeks)} weeks is shorter than {config.min_history_weeks}"
    if nonzero < config.min_nonzero_weeks:
        return f"only {nonzero} non-zero weeks, fewer than {config.min_nonzero_weeks}"
    return None


def prophet_predictions(weeks: pd.DataFrame, horizon: pd.DataFrame, config: ForecastConfig) -> pd.DataFrame:
    """Prophet's predicted, baseline and interval per week for history then horizon rows."""
    quiet_prophet_logging()
    from prophet import Prophet  # imported late: slow, and logs on import

    yearly: int | bool = config.yearly_fourier_order if len(weeks) >= config.yearly_seasonality_min_weeks else False
    model = Prophet(
        growth="linear",
        yearly_seasonality=yearly,
        weekly_seasonality=False,  # one observation per week: no within-week cycle to see
        daily_seasonality=False,
        # The retailer's demand behaves as base × season × promotion lift: a 25% discount adds
        # a share of the current level, not a fixed number of units, so the lift of a fast
        # seller is bigger in units than that of a slow one and grows with the trend and the
        # season. Multiplicative seasonality and regressors express exactly that; additive
        # ones would give the same unit uplift in the peak and the trough of the year.
        seasonality_mode="multiplicative",
        changepoint_prior_scale=config.changepoint_prior_scale,
        interval_width=config.interval_width,
        uncertainty_samples=config.uncertainty_samples,
    )
    # standardize=False keeps zero meaning "no promotion", so each coefficient reads as the
    # lift per unit of input and the priors in ForecastConfig are on that readable scale.
    model.add_regressor(
        "discount_depth",
        prior_scale=config.discount_prior_scale,
        standardize=False,
        mode="multiplicative",
    )
    for flag in ("feature", "display"):
        model.add_regressor(
            flag,
            prior_scale=config.feature_display_prior_scale,
            standardize=False,
            mode="multiplicative",
        )

    inputs = list(PROMOTION_INPUTS)
    train = weeks.loc[:, ["week_end_date", *inputs]].rename(columns={"week_end_date": "ds"})
    train["y"] = weeks["units"].to_numpy(float)
    future = pd.concat([weeks, horizon], ignore_index=True)
    future = future.loc[:, ["week_end_date", *inputs]].rename(columns={"week_end_date": "ds"})
    without_promotions = future.copy()
    without_promotions[inputs] = 0.0
    # Prophet samples its intervals with numpy's global generator: seed it so the same input
    # gives the same numbers wherever and in whatever order the series is fitted.
    saved_state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            # Prophet 1.5 still calls pandas APIs that pandas 3 deprecates; not ours to act on.
            warnings.filterwarnings("ignore", module=r"prophet\.")
            model.fit(train, seed=config.random_seed)
            np.random.seed(config.random_seed)
            with_promotions = model.predict(future)
            model.uncertainty_samples = 0  # the baseline needs the point forecast only
            baseline = model.predict(without_promotions)
    finally:
        np.random.set_state(saved_state)

    predictions = pd.DataFrame(
        {
            "predicted": with_promotions["yhat"].to_numpy(float),
            "baseline": baseline["yhat"].to_numpy(float),
            "lower": with_promotions["yhat_lower"].to_numpy(float),
            "upper": with_promotions["yhat_upper"].to_numpy(float),
        }
    )
    if not np.isfinite(predictions.to_numpy()).all():
        raise ValueError("Prophet returned non-finite predictions")
    # Demand cannot be negative, whatever the linear trend extrapolates to.
    return predictions.clip(lower=0.0)


def fallback_predictions(weeks: pd.DataFrame, horizon: pd.DataFrame, config: ForecastConfig) -> pd.DataFrame:
    """The 'fallback_mean' method: recent non-promoted mean, lifted by the historical lift.

    baseline = mean of the last `fallback_recent_weeks` non-promoted weeks (0 if none);
    predicted = baseline × (1 + lift) in promoted weeks, lift = mean promoted-week units ÷
    mean non-promoted-week units − 1 over all history (0 unless both exist); interval =
    predicted ± z × std of those recent non-promoted weeks.
    """
    promoted = weeks["is_promoted"].to_numpy(bool)
    units = weeks["units"].to_numpy(float)
    regular_units = units[~promoted]
    recent = regular_units[-config.fallback_recent_weeks :]
    baseline = max(float(recent.mean()), 0.0) if recent.size else 0.0
    spread = float(recent.std(ddof=1)) if recent.size >= 2 else 0.0
    lift = 0.0
    if promoted.any() and regular_units.size and regular_units.mean() > 0:
        lift = float(units[promoted].mean() / regular_units.mean() - 1.0)

    z = NormalDist().inv_cdf(0.5 + config.interval_width / 2)
    all_promoted = np.r_[promoted, horizon["is_promoted"].to_numpy(bool)]
    predicted = np.where(all_promoted, max(baseline * (1.0 + lift), 0.0), baseline)
    return pd.DataFrame(
        {
            "predicted": predicted,
            "baseline": np.full(predicted.size, baseline),
            "lower": np.clip(predicted - z * spread, 0.0, None),
            "upper": predicted + z * spread,
        }
    )


def _residual_sigma(weeks: pd.DataFrame, in_sample_predicted: np.ndarray) -> float:
    """Std of weekly in-sample errors on non-promoted weeks (promotion noise is not base noise)."""
    regular = ~weeks["is_promoted"].to_numpy(bool)
    residuals = weeks["units"].to_numpy(float)[regular] - in_sample_predicted[regular]
    if residuals.size < 2:
        return 0.0
    return float(np.std(residuals, ddof=1))
