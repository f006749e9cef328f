"""The model at one origin (forecasting.model.forecast_at_origin), on cases worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_builders import demand_rows, frames, promotion_rows, week

from forecasting import ForecastConfig
from forecasting.model import DEFLATED_PROMOTED, RECENT_LEVEL, forecast_at_origin
from forecasting.panel import build_panel
from forecasting.pool import checked_inputs

Z80 = 1.2815516  # NormalDist().inv_cdf(0.9), from a normal table


def panel_of(demand, plans, horizon=2, origin=None):
    demand, plans, last = checked_inputs(*frames(demand, plans), origin)
    return build_panel(demand, plans, last, horizon)


def config(**overrides):
    return ForecastConfig(workers=1, level_alpha=0.5, **overrides)


def test_unpromoted_series_by_hand():
    # alpha 0.5 over 10, 20, 30, 40 → level 31.25 carried into the horizon.
    # History baseline (levels either side, see test_pooled): 27.5, 22.5, 27.5, 22.5.
    # One-step errors 20−10, 30−15, 40−22.5 → RMS sqrt((100 + 225 + 306.25) / 3) = 14.5057.
    panel = panel_of(demand_rows("A", "S1", [10, 20, 30, 40]), [], horizon=2)
    forecast = forecast_at_origin(panel, panel.origin_index, config())
    np.testing.assert_allclose(forecast.baseline[0], [27.5, 22.5, 27.5, 22.5, 31.25, 31.25])
    np.testing.assert_allclose(forecast.predicted[0], forecast.baseline[0])
    half = Z80 * 14.5057
    np.testing.assert_allclose(forecast.predicted_upper[0, 4:], 31.25 + half, atol=1e-3)
    np.testing.assert_allclose(forecast.predicted_lower[0, 4:], 31.25 - half, atol=1e-3)
    np.testing.assert_allclose(forecast.uplift_lower[0], 0.0)
    assert forecast.level_source[0] == RECENT_LEVEL


@pytest.fixture(scope="module")
def doubled_by_promotion():
    """1,000 units a week, exactly 2,000 in every 4th (promoted, 30% off) week; a promotion 2 weeks ahead."""
    weeks = 40
    promoted = np.arange(weeks) % 4 == 3
    units = np.where(promoted, 2000.0, 1000.0)
    demand = demand_rows("A", "S1", units, promoted)
    plans = promotion_rows("P", "A", "S1", [week(k) for k in np.where(promoted)[0]] + [week(weeks + 1)])
    return panel_of(demand, plans, horizon=3)


def test_promoted_horizon_week_is_level_times_the_learnt_lift(doubled_by_promotion):
    panel = doubled_by_promotion
    forecast = forecast_at_origin(panel, panel.origin_index, config())
    horizon = panel.origin_index + np.arange(1, 4)
    # Level 1,000; the pooled lift learnt from the doubled weeks is 2: 2,000 in the promoted week.
    np.testing.assert_allclose(forecast.baseline[0, horizon], 1000.0, rtol=1e-9)
    np.testing.assert_allclose(forecast.predicted[0, horizon], [1000.0, 2000.0, 1000.0], rtol=1e-3)
    # The past promoted weeks' baseline is the level around them, so their uplift is ~1,000 each.
    past = np.where(panel.promoted[0, : panel.origin_index + 1])[0]
    np.testing.assert_allclose(forecast.predicted[0, past] - forecast.baseline[0, past], 1000.0, rtol=1e-3)
    assert forecast.uplift_lower[0, horizon[1]] <= 1000.0 * (1 + 1e-3)
    assert forecast.uplift_upper[0, horizon[1]] >= 1000.0 * (1 - 1e-3)


def test_prophet_takes_its_weight_in_promoted_weeks_only(doubled_by_promotion):
    panel = doubled_by_promotion
    prophet = np.full(panel.units.shape, 2400.0)
    forecast = forecast_at_origin(panel, panel.origin_index, config(prophet_weight=0.25), prophet)
    horizon = panel.origin_index + np.arange(1, 4)
    # Promoted week: 0.75 × 2,000 + 0.25 × 2,400 = 2,100; the others stay at the level 1,000.
    np.testing.assert_allclose(forecast.predicted[0, horizon], [1000.0, 2100.0, 1000.0], rtol=1e-3)
    np.testing.assert_allclose(forecast.pooled[0, horizon], [1000.0, 2000.0, 1000.0], rtol=1e-3)
    assert forecast.uses_prophet[0]
    without = forecast_at_origin(panel, panel.origin_index, config(prophet_weight=0.0), prophet)
    np.testing.assert_allclose(without.predicted, forecast.pooled)
    assert not without.uses_prophet[0]


def test_actuals_after_the_origin_are_never_read(doubled_by_promotion):
    panel = doubled_by_promotion
    origin = panel.origin_index - 6
    first = forecast_at_origin(panel, origin, config())
    changed = panel.subset(np.array([0]))
    changed.units = changed.units.copy()
    changed.units[0, origin + 1 :] = 99999.0
    second = forecast_at_origin(changed, origin, config())
    np.testing.assert_array_equal(first.predicted, second.predicted)
    np.testing.assert_array_equal(first.predicted_upper, second.predicted_upper)


def test_series_promoted_in_every_week_rests_on_its_deflated_promoted_weeks():
    # B: 12 promoted weeks only. Item A at another store teaches the item's lift (exactly 2).
    weeks = 24
    promoted_a = np.arange(weeks) % 3 == 1
    demand = demand_rows("A", "S1", np.where(promoted_a, 200.0, 100.0), promoted_a)
    plans = promotion_rows("PA", "A", "S1", [week(k) for k in np.where(promoted_a)[0]])
    demand += demand_rows("A", "S2", np.full(weeks, 60.0), np.ones(weeks, bool))
    plans += promotion_rows("PB", "A", "S2", [week(k) for k in range(weeks)])
    panel = panel_of(demand, plans, horizon=1)
    forecast = forecast_at_origin(panel, panel.origin_index, config())
    # S2 sells 60 at a lift of ~2 (S2's own promoted weeks cannot train: it never had a level):
    # level = 60 / 2 = 30.
    assert forecast.level_source[1] == DEFLATED_PROMOTED
    assert forecast.baseline[1, -1] == pytest.approx(30.0, rel=1e-3)


def test_all_zero_and_negative_series_forecast_zero_or_more():
    demand = demand_rows("A", "S1", np.zeros(30)) + demand_rows("B", "S1", [3, -6, 2, -8, 1, -4])
    panel = panel_of(demand, [], horizon=4)
    forecast = forecast_at_origin(panel, panel.origin_index, config())
    np.testing.assert_array_equal(forecast.predicted[0], 0.0)
    b = forecast.predicted[1][~np.isnan(forecast.predicted[1])]
    assert (b >= 0).all()
    assert (forecast.predicted_lower[1][~np.isnan(forecast.predicted_lower[1])] >= 0).all()
