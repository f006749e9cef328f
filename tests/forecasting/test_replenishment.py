"""Replenishment maths (DESIGN §6) against cases worked by hand in the comments."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from forecasting.replenishment import (
    forecast_over_days,
    order_up_to,
    protection_period_days,
    protection_sigma,
    reorder_point,
    replenishment_targets,
    safety_stock,
    sigma_protection,
    suggested_order,
    window_weights,
    z_value,
)
from forecasting.tables import REPLENISHMENT_TARGETS

AS_OF = date(2024, 1, 3)  # a Wednesday: week 1 of the horizon is Thu 4 Jan … Wed 10 Jan
WEEK_ENDS = [date(2024, 1, 10), date(2024, 1, 17), date(2024, 1, 24)]


def test_protection_period_is_review_plus_lead_time():
    assert protection_period_days(7, 10) == 17
    with pytest.raises(ValueError):
        protection_period_days(7, -1)


def test_forecast_over_whole_weeks():
    weekly = dict(zip(WEEK_ENDS, [70.0, 140.0, 210.0], strict=True))
    assert forecast_over_days(weekly, AS_OF, 7, 0.0) == pytest.approx(70)
    assert forecast_over_days(weekly, AS_OF, 14, 0.0) == pytest.approx(70 + 140)
    assert forecast_over_days(weekly, AS_OF, 0, 0.0) == 0.0


def test_forecast_over_a_partial_week():
    weekly = dict(zip(WEEK_ENDS, [70.0, 140.0, 210.0], strict=True))
    # 10 days = all of week 1 (70) + Thu 11 … Sat 13 Jan, 3 of week 2's 7 days: 140 × 3/7 = 60.
    assert forecast_over_days(weekly, AS_OF, 10, 0.0) == pytest.approx(130)
    # 17 days = 70 + 140 + 3/7 of week 3 (210 × 3/7 = 90) = 300.
    assert forecast_over_days(weekly, AS_OF, 17, 0.0) == pytest.approx(300)


def test_forecast_from_a_mid_week_as_of_date():
    weekly = dict(zip(WEEK_ENDS, [70.0, 140.0, 210.0], strict=True))
    # As of Saturday 6 Jan, 7 days = Sun 7 … Wed 10 (4 days of week 1: 40) + Thu 11 … Sat 13
    # (3 days of week 2: 60) = 100.
    assert forecast_over_days(weekly, date(2024, 1, 6), 7, 0.0) == pytest.approx(100)


def test_days_past_the_horizon_run_at_the_given_weekly_rate():
    weekly = dict(zip(WEEK_ENDS[:2], [70.0, 70.0], strict=True))
    # 21 days: two forecast weeks (140) + one uncovered week at 56 = 196.
    assert forecast_over_days(weekly, AS_OF, 21, 56.0) == pytest.approx(196)


def test_sigma_over_the_protection_period():
    # Backtested error over P 14, 10 units a day, lead time sd 2 days:
    # sqrt(14² + 10² × 2²) = sqrt(196 + 400) = sqrt(596) = 24.4131.
    assert sigma_protection(14.0, 10.0, 2.0) == pytest.approx(24.4131, abs=1e-4)
    assert sigma_protection(0.0, 0.0, 3.0) == 0.0


def test_window_weights_are_the_share_of_each_week_inside_the_period():
    # 17 days: weeks 1 and 2 whole, 3 days of week 3.
    np.testing.assert_allclose(window_weights(17, 3), [1, 1, 3 / 7])
    np.testing.assert_allclose(window_weights(10, 2), [1, 3 / 7])
    np.testing.assert_allclose(window_weights(7, 1), [1])


def backtest_points(item_id, location_id, errors_by_origin, promoted_by_origin=None, first_origin=date(2023, 6, 7)):
    """Backtest points of one series: for origin i, horizon h, predicted − actual = errors_by_origin[i][h − 1]."""
    rows = []
    for i, errors in enumerate(errors_by_origin):
        origin = date.fromordinal(first_origin.toordinal() + 7 * i)
        for h, error in enumerate(errors, start=1):
            promoted = bool(promoted_by_origin[i]) if promoted_by_origin is not None else False
            rows.append({"item_id": item_id, "location_id": location_id, "origin_date": origin, "horizon_weeks": h,
                         "is_promoted": promoted, "actual_units": 50.0, "predicted_units": 50.0 + error})
    columns = ["item_id", "location_id", "origin_date", "horizon_weeks", "is_promoted", "actual_units",
               "predicted_units"]
    return pd.DataFrame(rows, columns=columns)


def test_protection_sigma_is_the_rms_of_window_errors_by_hand():
    # P = 17 days → weights 1, 1, 3/7. Five windows err (14, 0, 0) → 14, five (−14, 0, 7) → −14 + 3 = −11.
    # RMS = sqrt((5 × 196 + 5 × 121) / 10) = sqrt(158.5) = 12.5897.
    points = backtest_points("A", "S", [(14, 0, 0, 5)] * 5 + [(-14, 0, 7, -5)] * 5)
    sigma, basis, windows = protection_sigma(points, 17, promoted_in_period=False, min_windows=8)
    assert sigma == pytest.approx(12.5897, abs=1e-4)
    assert (basis, windows) == ("backtest_regular_windows", 10)


def test_protection_sigma_uses_windows_like_the_period_ahead():
    # 8 promoted windows err 10 a week, 8 regular windows 2 (P = 7 days: one week, weight 1).
    points = backtest_points("A", "S", [(10,)] * 8 + [(2,)] * 8, promoted_by_origin=[True] * 8 + [False] * 8)
    assert protection_sigma(points, 7, True, 8) == (pytest.approx(10.0), "backtest_promoted_windows", 8)
    assert protection_sigma(points, 7, False, 8) == (pytest.approx(2.0), "backtest_regular_windows", 8)
    # Needing 9 windows of a kind: all 16 windows, sqrt((8 × 100 + 8 × 4) / 16) = sqrt(52) = 7.2111.
    assert protection_sigma(points, 7, True, 9) == (pytest.approx(7.2111, abs=1e-4), "backtest_all_windows", 16)


def test_protection_sigma_drops_incomplete_windows_and_scales_past_the_horizon():
    # 8 complete windows erring (3, 4) and 2 origins near the end of the test with week 1 only.
    points = backtest_points("A", "S", [(3, 4)] * 8 + [(50,)] * 2)
    # P = 14 days: windows need both weeks: 8 windows of error 7.
    assert protection_sigma(points, 14, False, 8) == (pytest.approx(7.0), "backtest_regular_windows", 8)
    # P = 35 days but only 2 weeks were backtested: σ over 14 days × sqrt(35 / 14) = 7 × 1.58114 = 11.0680.
    assert protection_sigma(points, 35, False, 8)[0] == pytest.approx(11.0680, abs=1e-4)
    # Too few windows: no σ of its own.
    assert protection_sigma(points.head(6), 14, False, 8) == (None, "no_backtest", 3)


def test_z_value_from_the_normal_table():
    assert z_value(0.95) == pytest.approx(1.6449, abs=1e-4)
    assert z_value(0.5) == pytest.approx(0.0, abs=1e-12)
    for bad in (0.0, 1.0, 95):
        with pytest.raises(ValueError, match="service_level"):
            z_value(bad)


def test_safety_stock_reorder_point_order_up_to():
    # z 1.6449 × σ 28.1425 = 46.291; reorder point 70 + 46.291; order-up-to 140 + 46.291.
    ss = safety_stock(1.6449, 28.1425)
    assert ss == pytest.approx(46.291, abs=1e-3)
    assert reorder_point(70, ss) == pytest.approx(116.291, abs=1e-3)
    assert order_up_to(140, ss) == pytest.approx(186.291, abs=1e-3)


def test_zero_demand_orders_nothing():
    assert suggested_order(order_up_to_units=0.0, inventory_position_units=0.0, pack_size=12, moq=24) == 0.0


def test_order_rounds_up_to_whole_packs():
    # 140 − 25 = 115 units short; packs of 12: ceil(115 / 12) = 10 packs = 120.
    assert suggested_order(140.0, 25.0, pack_size=12, moq=0) == 120.0
    # Exactly 12 packs short stays 12 packs (no extra pack from floating-point noise).
    assert suggested_order(144.0 + 1e-12, 0.0, pack_size=12, moq=0) == 144.0


def test_moq_binds_then_rounds_to_packs():
    # 140 − 130 = 10 short → 2 packs of 6 = 12 < MOQ 50 → 50 → ceil(50 / 6) = 9 packs = 54.
    assert suggested_order(140.0, 130.0, pack_size=6, moq=50) == 54.0


def test_no_order_when_position_covers_the_target_whatever_the_moq():
    assert suggested_order(100.0, 150.0, pack_size=12, moq=50) == 0.0


def test_negative_inventory_position_is_made_good():
    # On-hand of −5 (a bookkeeping lag) and a target of 10: order 15.
    assert suggested_order(10.0, -5.0, pack_size=1, moq=0) == 15.0


def forecast_frame(item_id, location_id, predicted, baseline, method="prophet") -> pd.DataFrame:
    """forecast.demand_weekly rows: one history week ending on AS_OF, then horizon weeks."""
    week_ends = [AS_OF] + [date.fromordinal(AS_OF.toordinal() + 7 * k) for k in range(1, len(predicted) + 1)]
    return pd.DataFrame(
        {
            "item_id": item_id,
            "location_id": location_id,
            "week_end_date": week_ends,
            "is_history": [True] + [False] * len(predicted),
            "actual_units": [999.0] + [np.nan] * len(predicted),
            # The history week's 999 ends on AS_OF and must not count.
            "predicted_units": [999.0, *predicted],
            "baseline_units": [999.0, *baseline],
            "predicted_lower": np.nan,
            "predicted_upper": np.nan,
            "method": method,
            "model_version": "test-v1",
        }
    )


@pytest.fixture
def targets():
    promoted = [70.0, 140.0] + [70.0] * 6  # approved promotion in horizon week 2
    weekly = pd.concat(
        [
            forecast_frame("A1", "S1", promoted, [70.0] * 8),
            forecast_frame("A1", "S2", [70.0] * 8, [70.0] * 8),
            forecast_frame("B1", "S1", [0.0] * 8, [0.0] * 8, method="pooled_lift"),
        ],
        ignore_index=True,
    )
    items = pd.DataFrame(
        {
            "item_id": ["A1", "B1"],
            "lead_time_days": [10, 7],
            "lead_time_std_days": [2.0, None],
            "pack_size": [12, 6],
            "moq": [0, 24],
        }
    )
    positions = pd.DataFrame(
        {"item_id": ["A1", "B1"], "location_id": ["S1", "S1"], "inventory_position_units": [25.0, 0.0]}
    )
    # Only A1/S1 was backtested: 10 windows, none promoted (see test_protection_sigma_is_the_rms...).
    points = backtest_points("A1", "S1", [(14, 0, 0, 5)] * 5 + [(-14, 0, 7, -5)] * 5)
    result = replenishment_targets(weekly, items, positions, points, AS_OF, review_period_days=7, service_level=0.95)
    return result.set_index(["item_id", "location_id"], drop=False)


def test_targets_with_a_promotion_inside_the_lead_time(targets):
    row = targets.loc[("A1", "S1")]
    # Lead time 10 days: week 1 (70) + 3/7 of the promoted week 2 (140 × 3/7 = 60) = 130;
    # without the promotion it would be 70 + 30 = 100 (row A1/S2 below).
    assert row["forecast_lead_time_units"] == pytest.approx(130)
    # P = 7 + 10 = 17 days: 70 + 140 + 3/7 × 70 = 240.
    assert row["protection_period_days"] == 17
    assert row["forecast_protection_units"] == pytest.approx(240)
    # The period ahead is promoted but no backtest window was: σ over all 10 windows, 12.5897.
    assert (row["sigma_basis"], row["sigma_windows"]) == ("backtest_all_windows", 10)
    # σ_P = sqrt(12.5897² + (240/17)² × 2²) = sqrt(158.5 + 797.232) = 30.9149.
    assert row["sigma_protection_units"] == pytest.approx(30.9149, abs=1e-4)
    # SS = 1.644854 × 30.9149 = 50.8505; ROP = 130 + 50.8505; order-up-to = 240 + 50.8505.
    assert row["z_value"] == pytest.approx(1.644854, abs=1e-6)
    assert row["safety_stock_units"] == pytest.approx(50.8505, abs=1e-4)
    assert row["reorder_point_units"] == pytest.approx(180.8505, abs=1e-4)
    assert row["order_up_to_units"] == pytest.approx(290.8505, abs=1e-4)
    # 290.8505 − 25 = 265.85 → ceil(265.85 / 12) = 23 packs = 276.
    assert row["suggested_order_units"] == 276.0
    assert row["as_of_date"] == AS_OF and row["lead_time_days"] == 10 and row["review_period_days"] == 7
    assert row["method"] == "prophet" and row["model_version"] == "test-v1"


def test_series_without_a_backtest_borrows_its_items_relative_error(targets):
    # A1/S2 has no backtest: σ per forecast unit of A1/S1 = 12.5897 / 240 = 0.052457, × its own
    # forecast over P (70 + 70 + 30 = 170) = 8.9177; σ_P = sqrt(8.9177² + 10² × 2²) = 21.8981.
    row = targets.loc[("A1", "S2")]
    assert row["sigma_basis"] == "item_relative"
    assert row["sigma_protection_units"] == pytest.approx(21.8981, abs=1e-4)
    assert row["safety_stock_units"] == pytest.approx(36.0191, abs=1e-4)


def test_same_item_without_promotion_and_without_a_position(targets):
    row = targets.loc[("A1", "S2")]
    assert row["forecast_lead_time_units"] == pytest.approx(100)
    assert targets.loc[("A1", "S1"), "forecast_lead_time_units"] - row["forecast_lead_time_units"] == pytest.approx(30)
    # No inventory position known: no order is suggested rather than ordering from zero.
    assert math.isnan(row["inventory_position_units"])
    assert math.isnan(row["suggested_order_units"])


def test_zero_demand_series_gets_no_safety_stock_and_no_order(targets):
    row = targets.loc[("B1", "S1")]
    assert row["safety_stock_units"] == 0.0
    assert row["order_up_to_units"] == 0.0
    assert row["suggested_order_units"] == 0.0  # MOQ 24 does not force an order of nothing
    assert row["method"] == "pooled_lift"
    assert row["sigma_basis"] == "none"  # nothing of B1 was backtested


def test_targets_frame_has_the_table_columns(targets):
    assert list(targets.columns) == list(REPLENISHMENT_TARGETS)
    assert len(targets) == 3
    assert str(targets["pack_size"].dtype) == "int32"


def test_forecast_item_missing_from_the_item_master_is_an_error():
    weekly = forecast_frame("Z9", "S1", [1.0], [1.0])
    items = pd.DataFrame({"item_id": ["A1"], "lead_time_days": [7], "pack_size": [1], "moq": [0]})
    positions = pd.DataFrame({"item_id": [], "location_id": [], "inventory_position_units": []})
    with pytest.raises(ValueError, match=r"items lacks item_id \['Z9'\]"):
        replenishment_targets(weekly, items, positions, backtest_points("Z9", "S1", []), AS_OF)


def test_missing_lead_time_names_the_row():
    weekly = forecast_frame("A1", "S1", [1.0], [1.0])
    items = pd.DataFrame({"item_id": ["A1"], "lead_time_days": [None], "pack_size": [1], "moq": [0]})
    positions = pd.DataFrame({"item_id": [], "location_id": [], "inventory_position_units": []})
    with pytest.raises(ValueError, match="items row 0: item_id 'A1' has lead_time_days"):
        replenishment_targets(weekly, items, positions, backtest_points("A1", "S1", []), AS_OF)


def test_every_series_backtested_needs_no_borrowing():
    weekly = forecast_frame("A1", "S1", [70.0] * 8, [70.0] * 8)
    items = pd.DataFrame({"item_id": ["A1"], "lead_time_days": [10], "pack_size": [1], "moq": [0]})
    positions = pd.DataFrame({"item_id": ["A1"], "location_id": ["S1"], "inventory_position_units": [0.0]})
    points = backtest_points("A1", "S1", [(14, 0, 0, 5)] * 5 + [(-14, 0, 7, -5)] * 5)
    row = replenishment_targets(weekly, items, positions, points, AS_OF).iloc[0]
    # No lead-time sd column: σ_P is the backtested 12.5897 alone; SS = 1.644854 × 12.5897 = 20.7082.
    assert row["sigma_basis"] == "backtest_regular_windows"
    assert row["safety_stock_units"] == pytest.approx(20.7082, abs=1e-4)


def _one_series_inputs():
    weekly = forecast_frame("A1", "S1", [70.0] * 8, [70.0] * 8)
    items = pd.DataFrame({"item_id": ["A1"], "lead_time_days": [10], "pack_size": [12], "moq": [0]})
    positions = pd.DataFrame({"item_id": ["A1"], "location_id": ["S1"], "inventory_position_units": [25.0]})
    points = backtest_points("A1", "S1", [(14, 0, 0, 5)] * 10)
    return weekly, items, positions, points


def test_two_forecast_rows_for_one_week_are_refused_not_summed():
    weekly, items, positions, points = _one_series_inputs()
    doubled = pd.concat([weekly, weekly.iloc[[3]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"2 rows sharing .*\(first: A1, S1, .*one row per series and week"):
        replenishment_targets(doubled, items, positions, points, AS_OF)


@pytest.mark.parametrize("horizon", [0, -1, None, 1.5])
def test_backtest_horizons_must_be_whole_weeks_from_one(horizon):
    weekly, items, positions, points = _one_series_inputs()
    points = points.astype({"horizon_weeks": object})
    points.loc[points.index[4], "horizon_weeks"] = horizon
    with pytest.raises(ValueError, match=r"1 rows whose horizon_weeks is not a whole number >= 1 \(first: row 4"):
        replenishment_targets(weekly, items, positions, points, AS_OF)
