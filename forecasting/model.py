"""The demand model at one forecast origin, for every series at once (DESIGN §6).

    baseline  = the series' level: an exponentially weighted mean of its recent non-promoted
                weeks (in history, the mean of the levels just before and just after the week)
    pooled    = baseline × promotion lift (forecasting.pooled: learnt across the item's stores)
    predicted = pooled in weeks without a promotion;
                (1 − w) × pooled + w × Prophet in promoted weeks (w = prophet_weight)
    uplift    = predicted − baseline

The same function serves the forecast (origin = the last history week) and every origin of
the backtest, so the backtest scores exactly what is shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from forecasting.config import ForecastConfig
from forecasting.panel import Panel
from forecasting.pooled import (
    PromotionEffects,
    ewma_levels,
    fit_promotion_effects,
    history_baseline,
    level_before,
    promotion_multiplier,
)

RECENT_LEVEL = "recent_non_promoted"
DEFLATED_PROMOTED = "deflated_promoted_weeks"
NO_SALES = "no_sales"
# One-step errors of the level over this many recent non-promoted weeks set the interval width.
INTERVAL_ERROR_WEEKS = 52


@dataclass
class OriginForecast:
    """(S, W) arrays for history up to the origin and the weeks after it; NaN before a series' first week."""

    predicted: np.ndarray
    baseline: np.ndarray
    pooled: np.ndarray  # baseline × lift: the forecast without the Prophet member
    predicted_lower: np.ndarray
    predicted_upper: np.ndarray
    uplift_lower: np.ndarray
    uplift_upper: np.ndarray
    uses_prophet: np.ndarray  # (S,) Prophet's forecast is part of the series' promoted weeks
    level_source: np.ndarray  # (S,) what the horizon baseline rests on
    effects: PromotionEffects


def forecast_at_origin(
    panel: Panel,
    origin_index: int,
    config: ForecastConfig,
    prophet_predicted: np.ndarray | None = None,
) -> OriginForecast:
    """Forecast every week of the panel from what was known at `origin_index`.

    `prophet_predicted` is (S, W) from a Prophet fit at or before the origin, NaN for series
    without a fit; actuals after the origin are never read.
    """
    weeks = panel.weeks.size
    known = panel.units.copy()
    known[:, origin_index + 1 :] = np.nan
    promoted = panel.promoted
    levels = ewma_levels(known, promoted, config.level_alpha)
    effects = fit_promotion_effects(
        panel,
        level_before(levels),
        origin_index,
        ridge=config.effect_ridge,
        store_pseudo_weeks=config.store_pseudo_weeks,
        min_promoted_weeks=config.min_promoted_weeks,
    )
    lift, lift_lower, lift_upper = promotion_multiplier(panel, effects, config.interval_width)

    in_history = np.arange(weeks)[None, :] <= origin_index
    horizon_level, level_source = _horizon_level(known, promoted, levels[:, origin_index], lift, origin_index)
    baseline = np.where(in_history, history_baseline(known, promoted, config.level_alpha), horizon_level[:, None])
    # A history week with no non-promoted neighbour on either side (a series promoted
    # throughout) rests on the same deflated level as its horizon.
    baseline = np.where(np.isnan(baseline), horizon_level[:, None], baseline)
    baseline = np.clip(baseline, 0.0, None)

    pooled = baseline * lift
    weight = config.prophet_weight
    has_prophet = np.zeros(panel.series_count, bool)
    blended = np.zeros(baseline.shape, bool)
    prophet = np.zeros(baseline.shape)
    if prophet_predicted is not None and weight > 0:
        has_prophet = ~np.isnan(prophet_predicted).all(axis=1)
        blended = promoted & ~np.isnan(prophet_predicted)
        prophet = np.nan_to_num(prophet_predicted)
    predicted = np.where(blended, (1 - weight) * pooled + weight * prophet, pooled)
    uplift_lower = np.where(blended, (1 - weight) * baseline * lift_lower + weight * prophet, baseline * lift_lower)
    uplift_upper = np.where(blended, (1 - weight) * baseline * lift_upper + weight * prophet, baseline * lift_upper)

    sigma = _one_step_sigma(known, promoted, levels, origin_index)
    z = NormalDist().inv_cdf(0.5 + config.interval_width / 2)
    # Errors grow with the multiplier: a week sold at twice the level is twice as uncertain.
    scale = np.where(baseline > 0, predicted / np.where(baseline > 0, baseline, 1.0), 1.0)
    half_width = z * sigma[:, None] * scale

    before_first = np.arange(weeks)[None, :] < panel.first_index[:, None]

    def blank(values: np.ndarray) -> np.ndarray:
        return np.where(before_first, np.nan, values)

    return OriginForecast(
        predicted=blank(predicted),
        baseline=blank(baseline),
        pooled=blank(pooled),
        predicted_lower=blank(np.clip(predicted - half_width, 0.0, None)),
        predicted_upper=blank(predicted + half_width),
        uplift_lower=blank(uplift_lower - baseline),
        uplift_upper=blank(uplift_upper - baseline),
        uses_prophet=has_prophet,
        level_source=level_source,
        effects=effects,
    )


def _horizon_level(
    known: np.ndarray, promoted: np.ndarray, level_at_origin: np.ndarray, lift: np.ndarray, origin_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """The level carried into the horizon, and what it rests on.

    A series that was promoted in every week it sold has no non-promoted level: its promoted
    weeks divided by their lift stand in for it.
    """
    source = np.full(known.shape[0], RECENT_LEVEL, dtype=object)
    level = level_at_origin.copy()
    missing = np.isnan(level)
    if missing.any():
        history = slice(0, origin_index + 1)
        usable = promoted[:, history] & ~np.isnan(known[:, history])
        deflated = np.where(usable, np.nan_to_num(known[:, history]) / lift[:, history], 0.0).sum(axis=1)
        counts = usable.sum(axis=1)
        stand_in = np.where(counts > 0, deflated / np.maximum(counts, 1), np.nan)
        level = np.where(missing, stand_in, level)
        source[missing & ~np.isnan(stand_in)] = DEFLATED_PROMOTED
    still_missing = np.isnan(level)
    source[still_missing] = NO_SALES
    level = np.where(still_missing, 0.0, level)
    # Net returns can pull a level below zero; demand cannot be.
    return np.clip(level, 0.0, None), source


def _one_step_sigma(known: np.ndarray, promoted: np.ndarray, levels: np.ndarray, origin_index: int) -> np.ndarray:
    """(S,) root mean square of the level's one-week-ahead errors on recent non-promoted weeks."""
    before = level_before(levels)[:, : origin_index + 1]
    actual = known[:, : origin_index + 1]
    usable = ~promoted[:, : origin_index + 1] & ~np.isnan(actual) & ~np.isnan(before)
    squared = np.where(usable, (actual - np.nan_to_num(before)) ** 2, np.nan)
    sigma = np.zeros(known.shape[0])
    for row in range(known.shape[0]):
        errors = squared[row][usable[row]][-INTERVAL_ERROR_WEEKS:]
        sigma[row] = float(np.sqrt(errors.mean())) if errors.size else 0.0
    return sigma
