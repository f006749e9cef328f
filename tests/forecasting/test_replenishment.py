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
    reorder_point,
    replenishment_targets,
    safety_stock,
    sigma_protection,
    suggested_order,
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
    # P = 14 days = 2 weeks, σ_week 14, 10 units a day, lead time sd 2 days:
    # sqrt(2 × 14² + 10² × 2²) = sqrt(392 + 400) = sqrt(792) = 28.1425.
    assert sigma_protection(14.0, 14, 10.0, 2.0) == pytest.approx(28.1425, abs=1e-4)
    assert sigma_protection(0.0, 14, 0.0, 3.0) == 0.0


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
            forecast_frame("B1", "S1", [0.0] * 8, [0.0] * 8, method="fallback_mean"),
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
    sigmas = pd.DataFrame(
        {"item_id": ["A1", "A1", "B1"], "location_id": ["S1", "S2", "S1"], "residual_sigma_units": [14.0, 14.0, 0.0]}
    )
    result = replenishment_targets(weekly, items, positions, sigmas, AS_OF, review_period_days=7, service_level=0.95)
    return result.set_index(["item_id", "location_id"], drop=False)


def test_targets_with_a_promotion_inside_the_lead_time(targets):
    row = targets.loc[("A1", "S1")]
    # Lead time 10 days: week 1 (70) + 3/7 of the promoted week 2 (140 × 3/7 = 60) = 130;
    # without the promotion it would be 70 + 30 = 100 (row A1/S2 below).
    assert row["forecast_lead_time_units"] == pytest.approx(130)
    # P = 7 + 10 = 17 days: 70 + 140 + 3/7 × 70 = 240.
    assert row["protection_period_days"] == 17
    assert row["forecast_protection_units"] == pytest.approx(240)
    # σ_P = sqrt(17/7 × 14² + (240/17)² × 2²) = sqrt(476 + 797.232) = 35.6824.
    assert row["sigma_protection_units"] == pytest.approx(35.6824, abs=1e-4)
    # SS = 1.644854 × 35.6824 = 58.6923; ROP = 188.6923; order-up-to = 298.6923.
    assert row["z_value"] == pytest.approx(1.644854, abs=1e-6)
    assert row["safety_stock_units"] == pytest.approx(58.6923, abs=1e-4)
    assert row["reorder_point_units"] == pytest.approx(188.6923, abs=1e-4)
    assert row["order_up_to_units"] == pytest.approx(298.6923, abs=1e-4)
    # 298.6923 − 25 = 273.69 → ceil(273.69 / 12) = 23 packs = 276.
    assert row["suggested_order_units"] == 276.0
    assert row["as_of_date"] == AS_OF and row["lead_time_days"] == 10 and row["review_period_days"] == 7
    assert row["method"] == "prophet" and row["model_version"] == "test-v1"


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
    assert row["method"] == "fallback_mean"


def test_targets_frame_has_the_table_columns(targets):
    assert list(targets.columns) == list(REPLENISHMENT_TARGETS)
    assert len(targets) == 3
    assert str(targets["pack_size"].dtype) == "int32"


def test_forecast_item_missing_from_the_item_master_is_an_error():
    weekly = forecast_frame("Z9", "S1", [1.0], [1.0])
    items = pd.DataFrame({"item_id": ["A1"], "lead_time_days": [7], "pack_size": [1], "moq": [0]})
    positions = pd.DataFrame({"item_id": [], "location_id": [], "inventory_position_units": []})
    sigmas = pd.DataFrame({"item_id": ["Z9"], "location_id": ["S1"], "residual_sigma_units": [1.0]})
    with pytest.raises(ValueError, match=r"items lacks item_id \['Z9'\]"):
        replenishment_targets(weekly, items, positions, sigmas, AS_OF)


def test_missing_lead_time_names_the_row():
    weekly = forecast_frame("A1", "S1", [1.0], [1.0])
    items = pd.DataFrame({"item_id": ["A1"], "lead_time_days": [None], "pack_size": [1], "moq": [0]})
    positions = pd.DataFrame({"item_id": [], "location_id": [], "inventory_position_units": []})
    sigmas = pd.DataFrame({"item_id": ["A1"], "location_id": ["S1"], "residual_sigma_units": [1.0]})
    with pytest.raises(ValueError, match="items row 0: item_id 'A1' has lead_time_days"):
        replenishment_targets(weekly, items, positions, sigmas, AS_OF)
