"""The pooled parts of the demand model: a recent non-promoted level per series, and promotion
effects estimated across all stores of an item (shrunk towards its category) — DESIGN §6.

Promotion lift is a multiplier on the level the series would have sold at without the
promotion: lift = exp(x·β_item) × k_store, with x = (promoted, depth, depth², feature, display,
second-or-later promoted week). β_item is a Poisson regression of promoted-week units on x with
the series' level just before the week as offset, over every store of the item, pulled towards
the category's β by a ridge penalty; k_store is the store's own ratio of actual to predicted
promoted units, shrunk towards 1 by `store_pseudo_weeks` weeks of prior evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from forecasting.panel import Panel

EFFECT_FEATURES: tuple[str, ...] = (
    "promoted",
    "discount_depth",
    "discount_depth_squared",
    "feature",
    "display",
    "later_promoted_week",
)
ITEM = "item"
CATEGORY = "category"
NO_EFFECT = "none"


@dataclass
class PromotionEffects:
    """Per series: β (from its item, or its category), its covariance, and the store multiplier."""

    coefficients: np.ndarray  # (S, p)
    covariance: np.ndarray  # (S, p, p)
    store_multiplier: np.ndarray  # (S,)
    source: np.ndarray  # (S,) 'item', 'category' or 'none': where the effect was learnt
    promoted_weeks_used: np.ndarray  # (S,) promoted weeks of the item that trained β


def ewma_levels(units: np.ndarray, promoted: np.ndarray, alpha: float) -> np.ndarray:
    """(S, W) exponentially weighted mean of non-promoted weeks up to and including each week.

    Promoted weeks and weeks without an actual leave the level unchanged; NaN until a series
    has had a non-promoted week. Net returns (negative units) lower the level like any sale.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"level smoothing alpha must be in (0, 1], got {alpha}")
    levels = np.full(units.shape, np.nan)
    level = np.full(units.shape[0], np.nan)
    for t in range(units.shape[1]):
        value = units[:, t]
        counts = ~np.isnan(value) & ~promoted[:, t]
        updated = np.where(np.isnan(level), value, alpha * value + (1 - alpha) * level)
        level = np.where(counts, updated, level)
        levels[:, t] = level
    return levels


def level_before(levels: np.ndarray) -> np.ndarray:
    """(S, W) the level known at the start of each week (after the previous week)."""
    before = np.full(levels.shape, np.nan)
    before[:, 1:] = levels[:, :-1]
    return before


def history_baseline(units: np.ndarray, promoted: np.ndarray, alpha: float) -> np.ndarray:
    """(S, W) in-sample counterfactual level of each week: the mean of the smoothed non-promoted
    levels just before and just after it (the week itself excluded), whichever exist."""
    forward = level_before(ewma_levels(units, promoted, alpha))
    backward = level_before(ewma_levels(units[:, ::-1], promoted[:, ::-1], alpha))[:, ::-1]
    return np.where(
        np.isnan(forward), backward, np.where(np.isnan(backward), forward, (forward + backward) / 2)
    )


def effect_features(panel: Panel) -> np.ndarray:
    """(S, W, p) the promotion inputs the effect is learnt on (0 in weeks without a promotion)."""
    promoted = panel.promoted.astype(float)
    later = (panel.promotion_week_number() >= 2).astype(float)
    depth = panel.discount_depth
    return np.stack([promoted, depth, depth**2, panel.feature, panel.display, later], axis=-1)


def poisson_regression(
    features: np.ndarray,
    units: np.ndarray,
    offset: np.ndarray,
    ridge: float,
    prior: np.ndarray | None = None,
    iterations: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge-penalised Poisson regression with log link: β and its covariance.

    Maximises Σ (y·η − exp(η)) − ridge/2 ‖β − prior‖² with η = Xβ + offset by Newton steps.
    The covariance is the inverse penalised information scaled by the Pearson dispersion
    (at least 1), since weekly sales are more variable than Poisson.
    """
    p = features.shape[1]
    prior = np.zeros(p) if prior is None else np.asarray(prior, float)
    beta = prior.copy()
    penalty = ridge * np.eye(p)
    information = penalty.copy()
    for _ in range(iterations):
        mean = np.exp(np.clip(features @ beta + offset, -30, 30))
        gradient = features.T @ (units - mean) - ridge * (beta - prior)
        information = (features * mean[:, None]).T @ features + penalty
        step = np.linalg.solve(information, gradient)
        beta = beta + step
        if np.abs(step).max() < 1e-9:
            break
    mean = np.exp(np.clip(features @ beta + offset, -30, 30))
    information = (features * mean[:, None]).T @ features + penalty
    dispersion = 1.0
    if units.size > p:
        dispersion = max(1.0, float(((units - mean) ** 2 / np.maximum(mean, 1e-9)).sum() / (units.size - p)))
    return beta, dispersion * np.linalg.inv(information)


def fit_promotion_effects(
    panel: Panel,
    levels_before: np.ndarray,
    origin_index: int,
    *,
    ridge: float = 1.0,
    store_pseudo_weeks: float = 5.0,
    min_promoted_weeks: int = 10,
) -> PromotionEffects:
    """Learn promotion effects from promoted weeks up to `origin_index` (inclusive).

    A promoted week trains the effect when it has an actual and its series had a positive
    level before it. Items borrow from their category through the ridge prior; an item (or
    category) with fewer than `min_promoted_weeks` such weeks is flagged as not its own source.
    """
    features = effect_features(panel)
    p = features.shape[-1]
    series_count = panel.series_count
    coefficients = np.zeros((series_count, p))
    covariance = np.zeros((series_count, p, p))
    store_multiplier = np.ones(series_count)
    source = np.full(series_count, NO_EFFECT, dtype=object)
    used = np.zeros(series_count, dtype=int)

    window = slice(0, origin_index + 1)
    base = levels_before[:, window]
    trains = panel.promoted[:, window] & panel.observed[:, window] & (np.nan_to_num(base) > 0)
    items = panel.keys["item_id"].to_numpy()
    categories = panel.keys["category"].to_numpy()
    for category in np.unique(categories):
        in_category = np.where(categories == category)[0]
        rows, cols = np.nonzero(trains[in_category])
        rows = in_category[rows]
        category_beta, _ = poisson_regression(
            features[rows, cols], np.maximum(panel.units[rows, cols], 0.0), np.log(base[rows, cols]), ridge
        )
        category_weeks = rows.size
        for item in np.unique(items[in_category]):
            series = in_category[items[in_category] == item]
            rows, cols = np.nonzero(trains[series])
            rows = series[rows]
            x = features[rows, cols]
            y = np.maximum(panel.units[rows, cols], 0.0)
            offset = np.log(base[rows, cols])
            beta, cov = poisson_regression(x, y, offset, ridge, prior=category_beta)
            expected = np.exp(x @ beta + offset)
            actual_sum = np.bincount(rows, weights=y, minlength=series_count)[series]
            expected_sum = np.bincount(rows, weights=expected, minlength=series_count)[series]
            weeks = np.bincount(rows, minlength=series_count)[series]
            mean_expected = np.where(weeks > 0, expected_sum / np.maximum(weeks, 1), 1.0)
            prior_units = store_pseudo_weeks * mean_expected
            store_multiplier[series] = (actual_sum + prior_units) / np.maximum(expected_sum + prior_units, 1e-12)
            coefficients[series] = beta
            covariance[series] = cov
            used[series] = rows.size
            if rows.size >= min_promoted_weeks:
                source[series] = ITEM
            elif category_weeks >= min_promoted_weeks:
                source[series] = CATEGORY
    return PromotionEffects(coefficients, covariance, store_multiplier, source, used)


def promotion_multiplier(
    panel: Panel, effects: PromotionEffects, interval_width: float = 0.8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S, W) lift multiplier with its lower and upper bound; exactly 1 in weeks without a promotion.

    The bounds carry the estimation uncertainty of β only (not the store multiplier's or the
    week-to-week noise): exp(x·β ± z·se(x·β)) × k_store.
    """
    features = effect_features(panel)
    eta = np.einsum("swp,sp->sw", features, effects.coefficients)
    variance = np.einsum("swp,spq,swq->sw", features, effects.covariance, features)
    z = NormalDist().inv_cdf(0.5 + interval_width / 2)
    spread = z * np.sqrt(np.maximum(variance, 0.0))
    k = effects.store_multiplier[:, None]
    promoted = panel.promoted
    lift = np.where(promoted, np.exp(np.clip(eta, -30, 30)) * k, 1.0)
    lower = np.where(promoted, np.exp(np.clip(eta - spread, -30, 30)) * k, 1.0)
    upper = np.where(promoted, np.exp(np.clip(eta + spread, -30, 30)) * k, 1.0)
    return lift, lower, upper
