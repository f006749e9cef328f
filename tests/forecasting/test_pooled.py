"""The pooled parts of the model: panel layout, recent levels, Poisson regression, promotion effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_builders import FIRST_WEEK, demand_rows, frames, promotion_rows, week

from forecasting.panel import build_panel
from forecasting.pool import checked_inputs
from forecasting.pooled import (
    CATEGORY,
    ITEM,
    NO_EFFECT,
    ewma_levels,
    fit_promotion_effects,
    history_baseline,
    level_before,
    poisson_regression,
    promotion_multiplier,
)


def panel_of(demand, plans, horizon=2, categories=None, origin=None):
    demand, plans, last = checked_inputs(*frames(demand, plans), origin)
    return build_panel(demand, plans, last, horizon, categories)


# --- panel ------------------------------------------------------------------------------------


def test_panel_fills_missing_weeks_with_zero_and_leaves_weeks_before_the_first_sale_empty():
    # Series A sells in weeks 0, 2, 3 (week 1 has no row); series B starts in week 2.
    demand = demand_rows("A", "S1", [5, np.nan, 7, 8]) + demand_rows("B", "S1", [np.nan, np.nan, 3, 4])
    panel = panel_of(demand, [], horizon=2)
    assert list(panel.keys["item_id"]) == ["A", "B"]
    assert panel.weeks[0] == FIRST_WEEK and panel.weeks.size == 4 + 2 and panel.origin_index == 3
    np.testing.assert_array_equal(panel.units[0], [5, 0, 7, 8, np.nan, np.nan])
    np.testing.assert_array_equal(panel.units[1], [np.nan, np.nan, 3, 4, np.nan, np.nan])
    np.testing.assert_array_equal(panel.first_index, [0, 2])
    assert panel.keys["category"].tolist() == ["(unknown)", "(unknown)"]


def test_panel_promotion_inputs_come_from_the_plan_and_overlaps_take_the_strongest():
    demand = demand_rows("A", "S1", [5, 6, 7, 8])
    plans = (
        promotion_rows("P1", "A", "S1", [week(1), week(4)], depth=0.2, feature=1)
        + promotion_rows("P2", "A", "S1", [week(1)], depth=0.35, display=1)
        # a promotion of a series that never sold, and one before the data: both ignored
        + promotion_rows("P3", "Z", "S1", [week(1)])
        + promotion_rows("P4", "A", "S1", [week(-3)])
        # a promotion without a usable price (NULL depth) still counts as promoted, depth 0
        + promotion_rows("P5", "A", "S1", [week(5)], depth=None, display=1)
    )
    panel = panel_of(demand, plans, horizon=2)
    np.testing.assert_array_equal(panel.promoted[0], [False, True, False, False, True, True])
    np.testing.assert_allclose(panel.discount_depth[0], [0, 0.35, 0, 0, 0.2, 0])
    np.testing.assert_array_equal(panel.feature[0], [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(panel.display[0], [0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(panel.promotion_week_number()[0], [0, 1, 0, 0, 1, 2])


def test_a_week_the_demand_extract_marks_promoted_keeps_its_own_inputs_without_a_plan_row():
    demand = demand_rows("A", "S1", [5, 9, 6], promoted=[False, True, False], depth=0.25, feature=1)
    panel = panel_of(demand, [], horizon=1)
    np.testing.assert_array_equal(panel.promoted[0], [False, True, False, False])
    np.testing.assert_allclose(panel.discount_depth[0], [0, 0.25, 0, 0])
    np.testing.assert_array_equal(panel.feature[0], [0, 1, 0, 0])


def test_item_categories_are_attached_and_unknown_items_get_a_marker():
    demand = demand_rows("A", "S1", [1, 2]) + demand_rows("B", "S1", [1, 2])
    categories = pd.DataFrame({"item_id": ["A"], "category": ["CEREAL"]})
    panel = panel_of(demand, [], categories=categories)
    assert panel.keys["category"].tolist() == ["CEREAL", "(unknown)"]


# --- levels -----------------------------------------------------------------------------------


def test_ewma_level_by_hand():
    # alpha 0.5 over 10, 20, [promoted 50], 30, [no actual]:
    # 10 → 0.5·20 + 0.5·10 = 15 → promoted week leaves 15 → 0.5·30 + 0.5·15 = 22.5 → 22.5.
    units = np.array([[10.0, 20.0, 50.0, 30.0, np.nan]])
    promoted = np.array([[False, False, True, False, False]])
    levels = ewma_levels(units, promoted, 0.5)
    np.testing.assert_allclose(levels[0], [10, 15, 15, 22.5, 22.5])
    np.testing.assert_allclose(level_before(levels)[0], [np.nan, 10, 15, 15, 22.5])


def test_level_is_nan_until_the_first_non_promoted_week():
    units = np.array([[np.nan, 40.0, 12.0]])
    promoted = np.array([[False, True, False]])
    np.testing.assert_allclose(ewma_levels(units, promoted, 0.3)[0], [np.nan, np.nan, 12.0])


def test_history_baseline_averages_the_levels_either_side_by_hand():
    # alpha 0.5, units 10, 20, [promoted 60], 30, 40.
    # Forward level before each week: nan, 10, 15, 15, 22.5.
    # Backward (from the end) level before each week, read right to left: 40 → 0.5·30 + 0.5·40 = 35
    # → promoted week leaves 35 → 0.5·20 + 0.5·35 = 27.5: after-levels = 27.5, 35, 35, 40, nan.
    # Baseline = mean where both exist: nan→27.5, (10+35)/2, (15+35)/2, (15+40)/2, 22.5.
    units = np.array([[10.0, 20.0, 60.0, 30.0, 40.0]])
    promoted = np.array([[False, False, True, False, False]])
    np.testing.assert_allclose(history_baseline(units, promoted, 0.5)[0], [27.5, 22.5, 25.0, 27.5, 22.5])


def test_invalid_alpha_is_rejected():
    with pytest.raises(ValueError, match="alpha"):
        ewma_levels(np.zeros((1, 2)), np.zeros((1, 2), bool), 0.0)


# --- Poisson regression -----------------------------------------------------------------------


def test_intercept_only_poisson_regression_is_the_log_ratio_of_sums():
    # With one constant feature, the maximum-likelihood β is log(Σy ÷ Σexp(offset)):
    # y = 12, 18, 30 on bases 10, 10, 20 → log(60 / 40) = 0.405465.
    beta, cov = poisson_regression(
        np.ones((3, 1)), np.array([12.0, 18.0, 30.0]), np.log([10.0, 10.0, 20.0]), ridge=1e-9
    )
    assert beta[0] == pytest.approx(np.log(1.5), abs=1e-6)
    assert cov.shape == (1, 1) and cov[0, 0] > 0


def test_ridge_pulls_towards_the_prior_when_there_is_no_data():
    beta, _ = poisson_regression(np.zeros((0, 2)), np.zeros(0), np.zeros(0), ridge=1.0, prior=np.array([0.4, -0.1]))
    np.testing.assert_allclose(beta, [0.4, -0.1])


# --- promotion effects ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promoted_item():
    """Item A at 6 stores, 40 units a week, lift exp(0.2 + 2·depth) at depth 0.3 = 2.2255×.

    Every 5th week is promoted; item B (same category) never is, item C (another category) never is.
    """
    rng = np.random.default_rng(7)
    weeks = 80
    promoted = np.arange(weeks) % 5 == 2
    true_lift = np.exp(0.2 + 2.0 * 0.3)
    demand, plans = [], []
    for store in range(6):
        units = rng.poisson(40 * np.where(promoted, true_lift, 1.0))
        demand += demand_rows("A", f"S{store}", units, promoted)
        plans += promotion_rows(f"PA{store}", "A", f"S{store}", [week(k) for k in np.where(promoted)[0]])
        demand += demand_rows("B", f"S{store}", rng.poisson(30, weeks))
        demand += demand_rows("C", f"S{store}", rng.poisson(30, weeks))
    # B gets one planned promotion in the horizon; C too.
    plans += promotion_rows("PB", "B", "S0", [week(weeks)]) + promotion_rows("PC", "C", "S0", [week(weeks)])
    categories = pd.DataFrame({"item_id": ["A", "B", "C"], "category": ["X", "X", "Y"]})
    panel = panel_of(demand, plans, horizon=2, categories=categories)
    levels = ewma_levels(np.where(np.arange(panel.weeks.size) <= panel.origin_index, panel.units, np.nan),
                         panel.promoted, 0.25)
    effects = fit_promotion_effects(panel, level_before(levels), panel.origin_index)
    return panel, effects, true_lift


def test_pooled_effect_recovers_the_true_lift(promoted_item):
    panel, effects, true_lift = promoted_item
    lift, lower, upper = promotion_multiplier(panel, effects)
    item_a = (panel.keys["item_id"] == "A").to_numpy()
    promoted_weeks = panel.promoted[item_a] & (np.arange(panel.weeks.size) <= panel.origin_index)
    # 96 promoted store-weeks of ~89 units: the pooled lift lands within 5% of 2.2255.
    assert np.median(lift[item_a][promoted_weeks]) == pytest.approx(true_lift, rel=0.05)
    assert (lower[item_a][promoted_weeks] <= lift[item_a][promoted_weeks]).all()
    assert (upper[item_a][promoted_weeks] >= lift[item_a][promoted_weeks]).all()
    # Weeks without a promotion have exactly no lift.
    np.testing.assert_array_equal(lift[~panel.promoted], 1.0)
    assert set(effects.source[item_a]) == {ITEM}


def test_unpromoted_item_borrows_its_categorys_effect_and_other_categories_get_none(promoted_item):
    panel, effects, true_lift = promoted_item
    lift, _, _ = promotion_multiplier(panel, effects)
    items = panel.keys["item_id"].to_numpy()
    b0 = np.where((items == "B") & (panel.keys["location_id"] == "S0").to_numpy())[0][0]
    c0 = np.where((items == "C") & (panel.keys["location_id"] == "S0").to_numpy())[0][0]
    horizon = panel.origin_index + 1
    assert effects.source[b0] == CATEGORY and effects.promoted_weeks_used[b0] == 0
    # B has no promoted weeks of its own: its β is the category's (A's), its store multiplier 1.
    assert effects.store_multiplier[b0] == pytest.approx(1.0)
    assert lift[b0, horizon] == pytest.approx(true_lift, rel=0.08)
    assert effects.source[c0] == NO_EFFECT
    assert lift[c0, horizon] == pytest.approx(1.0)


def test_store_multiplier_is_the_shrunk_ratio_of_actual_to_expected(promoted_item):
    # Recompute k for one store from the returned β: (Σy + 5·p̄) ÷ (Σŷ + 5·p̄), ŷ = level before × exp(x·β).
    panel, effects, _ = promoted_item
    row = 0
    levels = ewma_levels(np.where(np.arange(panel.weeks.size) <= panel.origin_index, panel.units, np.nan),
                         panel.promoted, 0.25)
    before = level_before(levels)[row]
    weeks = np.where(panel.promoted[row] & (np.arange(panel.weeks.size) <= panel.origin_index) & (before > 0))[0]
    x = np.c_[np.ones(weeks.size), panel.discount_depth[row, weeks], panel.discount_depth[row, weeks] ** 2,
              panel.feature[row, weeks], panel.display[row, weeks], np.zeros(weeks.size)]
    expected = before[weeks] * np.exp(x @ effects.coefficients[row])
    p_bar = expected.mean()
    k = (panel.units[row, weeks].sum() + 5 * p_bar) / (expected.sum() + 5 * p_bar)
    assert effects.store_multiplier[row] == pytest.approx(k, rel=1e-9)
