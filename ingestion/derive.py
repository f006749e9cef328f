"""Deterministic rules that derive what a public dataset lacks (docs/derived_data.md).

Shared by the Breakfast at the Frat adapter and the seed generator, so both land values
derived the same way. Every constant below is an assumption, named as one; nothing here
is observed. Pure functions only: no file reading, no randomness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

# --- Item master assumptions, by category ------------------------------------------------
# Gross margin on the regular price (1 − cost ÷ regular price). Typical US grocery front-end
# margins: salty snacks and health & beauty care run richer than cereal and frozen pizza.
GROSS_MARGIN_ASSUMPTION: dict[str, float] = {
    "BAG SNACKS": 0.35,
    "COLD CEREAL": 0.30,
    "FROZEN PIZZA": 0.30,
    "ORAL HYGIENE PRODUCTS": 0.40,
}
# Units per case; a store orders whole cases.
CASE_PACK_ASSUMPTION: dict[str, int] = {
    "BAG SNACKS": 12,
    "COLD CEREAL": 12,
    "FROZEN PIZZA": 8,
    "ORAL HYGIENE PRODUCTS": 6,
}
# Minimum order quantity in cases (moq in units = cases × case pack).
MOQ_CASES_ASSUMPTION: dict[str, int] = {
    "BAG SNACKS": 1,
    "COLD CEREAL": 1,
    "FROZEN PIZZA": 1,
    "ORAL HYGIENE PRODUCTS": 1,
}
# Days from order to receipt at the store: snacks come by direct store delivery, cereal and
# frozen through the retailer's DC, health & beauty care from a slower central DC.
LEAD_TIME_DAYS_ASSUMPTION: dict[str, int] = {
    "BAG SNACKS": 4,
    "COLD CEREAL": 7,
    "FROZEN PIZZA": 7,
    "ORAL HYGIENE PRODUCTS": 10,
}
LEAD_TIME_STD_DAYS_ASSUMPTION: dict[str, float] = {
    "BAG SNACKS": 1.0,
    "COLD CEREAL": 1.5,
    "FROZEN PIZZA": 1.5,
    "ORAL HYGIENE PRODUCTS": 2.0,
}

# --- Simulated replenishment policy ------------------------------------------------------
# Stores review every item once a week, at the week's end.
REVIEW_PERIOD_WEEKS = 1
# Order-up-to level = mean weekly units × (lead time + review period + this many weeks of
# safety stock). Two weeks of average demand: shelves then hold 2-4 weeks of supply, as in
# grocery, and most promotion spikes are absorbed (with one week, 9% of Breakfast at the
# Frat snapshots went negative; with two, 5%).
SAFETY_STOCK_WEEKS = 2

# --- Promotions --------------------------------------------------------------------------
# A week is a price promotion when the shelf price is more than 1% under the base price;
# smaller gaps are rounding in the weekly average price, not a reduction.
TPR_MIN_DEPTH = 0.01

MECHANICS = ("feature_display", "feature", "display", "tpr")


class WeeklyInventory(NamedTuple):
    """One week of the simulated policy, as seen in the end-of-week snapshot."""

    closing_on_hand: float
    received_units: float
    in_transit_units: float
    on_order_units: float


@dataclass(frozen=True)
class CategoryRules:
    """The item-master values derived for one category."""

    category: str
    gross_margin: float
    pack_size: int
    moq: int
    lead_time_days: int
    lead_time_std_days: float


def category_rules(category: str) -> CategoryRules:
    """The stated assumptions for `category`; raises for a category without rules."""
    if category not in GROSS_MARGIN_ASSUMPTION:
        raise ValueError(
            f"no derivation rules for category {category!r}; known categories: "
            f"{', '.join(sorted(GROSS_MARGIN_ASSUMPTION))} (add it to ingestion/derive.py)"
        )
    pack = CASE_PACK_ASSUMPTION[category]
    return CategoryRules(
        category=category,
        gross_margin=GROSS_MARGIN_ASSUMPTION[category],
        pack_size=pack,
        moq=MOQ_CASES_ASSUMPTION[category] * pack,
        lead_time_days=LEAD_TIME_DAYS_ASSUMPTION[category],
        lead_time_std_days=LEAD_TIME_STD_DAYS_ASSUMPTION[category],
    )


def round_money(amount: float, places: int = 2) -> Decimal:
    """Round half away from zero to `places` decimals (float noise such as 89.80000000000001 goes)."""
    quantum = Decimal(1).scaleb(-places)
    return Decimal(repr(amount)).quantize(quantum, rounding=ROUND_HALF_UP)


def unit_cost_from_margin(regular_price: float, category: str) -> Decimal:
    """Unit cost = regular price × (1 − the category's assumed gross margin), to the cent."""
    margin = Decimal(repr(category_rules(category).gross_margin))
    # Decimal arithmetic so 2.49 × 0.65 = 1.6185 rounds to 1.62 as a person would round it
    cost = round_money(regular_price, 4) * (Decimal(1) - margin)
    return cost.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def lead_time_weeks(lead_time_days: int) -> int:
    """Lead time in whole weeks for the weekly simulation: days ÷ 7 rounded up, at least 1."""
    if lead_time_days < 0:
        raise ValueError(f"lead_time_days must be >= 0, got {lead_time_days}")
    return max(1, math.ceil(lead_time_days / 7))


def order_up_to_units(mean_weekly_units: float, lead_time_weeks: int) -> int:
    """Order-up-to level: mean weekly units × (lead time + review + safety weeks), rounded up to a unit."""
    if mean_weekly_units < 0:
        raise ValueError(f"mean_weekly_units must be >= 0, got {mean_weekly_units}")
    weeks_of_cover = lead_time_weeks + REVIEW_PERIOD_WEEKS + SAFETY_STOCK_WEEKS
    # round() first so 10.000000000001 does not become 11 units
    return math.ceil(round(mean_weekly_units * weeks_of_cover, 6))


def round_up_to_pack(units: float, pack_size: int) -> float:
    """Smallest multiple of `pack_size` that is >= units; 0 when units <= 0."""
    if units <= 0:
        return 0.0
    return float(math.ceil(round(units / pack_size, 9)) * pack_size)


def simulate_weekly_on_hand(
    units_sold: Sequence[float],
    order_up_to: float,
    lead_time_weeks: int,
    pack_size: int,
    opening_on_hand: float,
) -> list[WeeklyInventory]:
    """Simulate a weekly periodic-review order-up-to policy against the observed sales.

    Within week t, in this order: (1) orders due arrive at the start of the week and are
    received; (2) the week's sales (taken as given, so on-hand may go negative, a bookkeeping
    lag) are deducted; (3) the end-of-week snapshot is taken: closing on-hand, the order that
    arrives at the start of next week (in transit) and the later ones (on order); (4) the
    order is placed: max(0, order_up_to − (closing on-hand + all outstanding orders)) rounded
    up to a multiple of pack_size. An order placed at the end of week t arrives
    lead_time_weeks later, at the end of week t + lead_time_weeks, so it is received at the
    start of week t + lead_time_weeks + 1. Nothing is on order before the first week.
    Returns one WeeklyInventory(closing_on_hand, received_units, in_transit_units,
    on_order_units) per week; in_transit and on_order do not overlap.
    """
    if lead_time_weeks < 1:
        raise ValueError(f"lead_time_weeks must be >= 1, got {lead_time_weeks}")
    if pack_size < 1:
        raise ValueError(f"pack_size must be >= 1, got {pack_size}")
    if order_up_to < 0:
        raise ValueError(f"order_up_to must be >= 0, got {order_up_to}")
    arriving: dict[int, float] = {}  # week index -> units received at the start of that week
    on_hand = float(opening_on_hand)
    weeks: list[WeeklyInventory] = []
    for week, sold in enumerate(units_sold):
        received = arriving.pop(week, 0.0)
        on_hand = on_hand + received - float(sold)
        in_transit = arriving.get(week + 1, 0.0)
        outstanding = sum(arriving.values())
        weeks.append(WeeklyInventory(on_hand, received, in_transit, outstanding - in_transit))
        order = round_up_to_pack(order_up_to - (on_hand + outstanding), pack_size)
        if order > 0:
            due = week + lead_time_weeks + 1
            arriving[due] = arriving.get(due, 0.0) + order
    return weeks


def is_promoted_week(feature: int, display: int, tpr_only: int, price: float | None, base_price: float | None) -> bool:
    """A promoted week: featured, on display, a TPR flag, or price under base price by more than 1%."""
    if feature == 1 or display == 1 or tpr_only == 1:
        return True
    if price is None or base_price is None or _is_nan(price) or _is_nan(base_price):
        return False
    return price < base_price * (1.0 - TPR_MIN_DEPTH)


def promotion_mechanic(feature: int, display: int) -> str:
    """feature_display / feature / display from the flags; a promoted week with neither is a tpr."""
    if feature == 1 and display == 1:
        return "feature_display"
    if feature == 1:
        return "feature"
    if display == 1:
        return "display"
    return "tpr"


def week_start_date(week_end_date: date) -> date:
    """First day of the 7-day week that ends on `week_end_date`."""
    return week_end_date - timedelta(days=6)


def _is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)
