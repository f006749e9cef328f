"""Derivation rules: every expected value below was worked out by hand (the working is in the comments)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ingestion import derive
from ingestion.derive import WeeklyInventory, simulate_weekly_on_hand


def test_one_week_lead_time_with_pack_rounding_and_negative_on_hand() -> None:
    # order-up-to 30, lead time 1 week, case of 12, opening 30; sales 10, 25, 5, 40.
    # week 0: 30 − 10 = 20 on hand; order 30 − 20 = 10 → 12, received at the start of week 2.
    # week 1: 20 − 25 = −5; in transit 12 (arrives next week); order 30 − (−5 + 12) = 23 → 24, due week 3.
    # week 2: −5 + 12 − 5 = 2; in transit 24; order 30 − (2 + 24) = 4 → 12, due week 4.
    # week 3: 2 + 24 − 40 = −14; in transit 12.
    weeks = simulate_weekly_on_hand(
        [10, 25, 5, 40], order_up_to=30, lead_time_weeks=1, pack_size=12, opening_on_hand=30
    )
    assert weeks == [
        WeeklyInventory(20, 0, 0, 0),
        WeeklyInventory(-5, 0, 12, 0),
        WeeklyInventory(2, 12, 24, 0),
        WeeklyInventory(-14, 24, 12, 0),
    ]


def test_two_week_lead_time_keeps_later_orders_on_order_not_in_transit() -> None:
    # order-up-to 40, lead time 2 weeks, case of 6, opening 40; 12 sold every week.
    # week 0: 28 on hand; order 12 (already a whole number of cases), due week 3.
    # week 1: 16; the week-0 order is due in 2 weeks → on order 12; order 40 − 28 = 12, due week 4.
    # week 2: 4; week-0 order arrives next week → in transit 12, week-1 order on order 12; order 12.
    # week 3: receives 12 → 4 on hand; in transit 12 (week-1 order), on order 12 (week-2 order).
    weeks = simulate_weekly_on_hand(
        [12, 12, 12, 12], order_up_to=40, lead_time_weeks=2, pack_size=6, opening_on_hand=40
    )
    assert weeks == [
        WeeklyInventory(28, 0, 0, 0),
        WeeklyInventory(16, 0, 0, 12),
        WeeklyInventory(4, 0, 12, 12),
        WeeklyInventory(4, 12, 12, 12),
    ]


def test_nothing_is_ordered_while_the_position_is_above_the_order_up_to_level() -> None:
    # opening 50 above the level 20: weeks 0-2 order nothing (45, 40, 35 ≥ 20); no receipts.
    weeks = simulate_weekly_on_hand([5, 5, 5], order_up_to=20, lead_time_weeks=1, pack_size=4, opening_on_hand=50)
    assert [w.closing_on_hand for w in weeks] == [45, 40, 35]
    assert all(w.received_units == 0 and w.in_transit_units == 0 and w.on_order_units == 0 for w in weeks)


@pytest.mark.parametrize("kwargs", [{"lead_time_weeks": 0}, {"pack_size": 0}, {"order_up_to": -1}])
def test_simulation_rejects_impossible_policies(kwargs: dict) -> None:
    arguments = {"order_up_to": 10, "lead_time_weeks": 1, "pack_size": 1, "opening_on_hand": 0} | kwargs
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        simulate_weekly_on_hand([1, 2], **arguments)


@pytest.mark.parametrize(
    ("units", "pack", "expected"), [(13, 6, 18), (12, 6, 12), (0, 6, 0), (-3, 6, 0), (0.5, 12, 12)]
)
def test_round_up_to_pack(units: float, pack: int, expected: float) -> None:
    assert derive.round_up_to_pack(units, pack) == expected


@pytest.mark.parametrize(("days", "weeks"), [(0, 1), (4, 1), (7, 1), (8, 2), (10, 2), (14, 2), (15, 3)])
def test_lead_time_weeks_rounds_up_to_at_least_one_week(days: int, weeks: int) -> None:
    assert derive.lead_time_weeks(days) == weeks


def test_order_up_to_covers_lead_time_review_and_two_safety_weeks() -> None:
    # 10/week × (1 lead + 1 review + 2 safety) = 40; 2.5/week × (2 + 1 + 2) = 12.5 → 13 units
    assert derive.order_up_to_units(10, 1) == 40
    assert derive.order_up_to_units(2.5, 2) == 13
    assert derive.order_up_to_units(0, 1) == 0


@pytest.mark.parametrize(
    ("price", "category", "cost"),
    [
        (2.49, "COLD CEREAL", "1.74"),  # 2.49 × 0.70 = 1.743
        (1.25, "BAG SNACKS", "0.81"),  # 1.25 × 0.65 = 0.8125
        (2.50, "BAG SNACKS", "1.63"),  # 2.50 × 0.65 = 1.625, half rounds up
        (5.99, "ORAL HYGIENE PRODUCTS", "3.59"),  # 5.99 × 0.60 = 3.594
    ],
)
def test_unit_cost_from_category_margin(price: float, category: str, cost: str) -> None:
    assert derive.unit_cost_from_margin(price, category) == Decimal(cost)


def test_category_rules_and_unknown_category() -> None:
    rules = derive.category_rules("FROZEN PIZZA")
    assert (rules.pack_size, rules.moq, rules.lead_time_days, rules.gross_margin) == (8, 8, 7, 0.30)
    with pytest.raises(ValueError, match="'PET FOOD'"):
        derive.category_rules("PET FOOD")


def test_round_money_rounds_half_away_from_zero() -> None:
    assert derive.round_money(89.80000000000001) == Decimal("89.80")
    assert derive.round_money(1.005) == Decimal("1.01")
    assert derive.round_money(-1.005) == Decimal("-1.01")


@pytest.mark.parametrize(
    ("flags", "price", "base", "promoted"),
    [
        ((0, 0, 0), 2.00, 2.00, False),
        ((0, 0, 0), 1.99, 2.00, False),  # 0.5% under base: rounding, not a reduction
        ((0, 0, 0), 1.97, 2.00, True),  # 1.5% under base
        ((0, 0, 1), 2.00, 2.00, True),
        ((0, 1, 0), None, None, True),
        ((0, 0, 0), None, 2.00, False),
        ((0, 0, 0), 1.50, float("nan"), False),
    ],
)
def test_is_promoted_week(flags: tuple[int, int, int], price: float | None, base: float | None, promoted: bool) -> None:
    assert derive.is_promoted_week(*flags, price, base) is promoted


def test_promotion_mechanic_and_week_start() -> None:
    assert [derive.promotion_mechanic(f, d) for f, d in [(1, 1), (1, 0), (0, 1), (0, 0)]] == [
        "feature_display",
        "feature",
        "display",
        "tpr",
    ]
    assert derive.week_start_date(date(2009, 1, 14)) == date(2009, 1, 8)
