"""The vectorised replenishment_targets against the per-series loop it replaced (replenishment_reference.py).

The reference composes the small functions test_replenishment.py checks by hand, one series at
a time; here a seeded random set of a few hundred series, salted with the edge cases, must come
out of both with the same rows and the same values (to float rounding).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from replenishment_reference import reference_replenishment_targets

import forecasting.replenishment as replenishment
from forecasting.replenishment import replenishment_targets

AS_OF = date(2024, 1, 3)  # a Wednesday
LEAD_TIMES = [0, 1, 3, 6, 7, 10, 14, 21, 30, 45]  # 45 + 7 days reach past an 8-week horizon and the 4 backtested weeks
PACK_SIZES = [None, 0, 1, 1, 6, 12, 24]  # NULL and 0 mean 1
MOQS = [None, -1, 0, 0, 10, 24, 50]  # NULL and negative mean 0


def synthetic_inputs(seed: int, n_series: int = 300, with_promotion_flag: bool = True) -> dict:
    """Forecast, item master, positions and backtest points of `n_series` random series with edge cases.

    Per series, at random: the week-end weekday (so as_of falls anywhere in a week), 0–10 history
    weeks and 0–8 forecast weeks (0 = nothing ahead, the baseline of the last week carries on),
    zero demand (1 in 8), a promotion starting in horizon week 1–3 (1 in 4, so often inside the
    lead time), NULL promotion flags, and a backtest of 0–26 origins (0 = missing from it), the
    last three origins short of weeks, some backtested only 1–2 weeks ahead, promoted windows
    around the 8 needed. Rows of every table are shuffled; positions and points include series
    the forecast does not have.
    """
    rng = np.random.default_rng(seed)
    n_items, n_locations = max(n_series // 5, 2), 12
    items = pd.DataFrame(
        {
            "item_id": [f"I{i:03d}" for i in range(n_items)],
            "lead_time_days": rng.choice(LEAD_TIMES, n_items),
            "lead_time_std_days": np.where(rng.random(n_items) < 0.3, np.nan,
                                           rng.choice([0.0, 0.5, 2.0, 3.5], n_items)),
            "pack_size": pd.array(rng.choice(np.array(PACK_SIZES, dtype=object), n_items), dtype="Int64"),
            "moq": pd.array(rng.choice(np.array(MOQS, dtype=object), n_items), dtype="Int64"),
        }
    )
    pairs = rng.choice(n_items * n_locations, n_series + 20, replace=False)
    keys = [(f"I{p // n_locations:03d}", f"L{p % n_locations:02d}") for p in pairs]
    series, strangers = keys[:n_series], keys[n_series:]  # strangers: in positions / backtest only

    forecast_rows, point_rows = [], []
    for item_id, location_id in series:
        first_week_end = AS_OF + timedelta(days=int(rng.integers(0, 7)))  # may end after as_of: partly ahead
        history, horizon = int(rng.integers(0, 11)), int(rng.choice([0, 1, 2, 3, 8, 8, 8]))
        zero = rng.random() < 0.125
        level = 0.0 if zero else float(rng.gamma(2.0, 30.0))
        promo_week = int(rng.integers(1, 4)) if rng.random() < 0.25 else None
        for k in range(-history, horizon + (1 if first_week_end > AS_OF else 0)):
            week_end = first_week_end + timedelta(days=7 * k)
            baseline = 0.0 if zero else round(level * rng.uniform(0.7, 1.3), 1)
            promoted = promo_week is not None and k == promo_week - (0 if first_week_end > AS_OF else 1)
            predicted = baseline * (1.8 if promoted else 1.0)
            flag: object = promoted
            if rng.random() < 0.05:
                flag = None  # NULL flag: not promoted
            forecast_rows.append(
                {"item_id": item_id, "location_id": location_id, "week_end_date": week_end,
                 "is_history": week_end <= AS_OF, "predicted_units": predicted, "baseline_units": baseline,
                 "is_promoted": flag, "method": "pooled_lift" if zero else "prophet", "model_version": "eq-v1"}
            )
        if rng.random() < 0.2:
            continue  # missing from the backtest
        point_rows += backtest_rows(rng, item_id, location_id, level)
    for item_id, location_id in strangers[:10]:
        point_rows += backtest_rows(rng, item_id, location_id, 10.0)

    forecast = pd.DataFrame(forecast_rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    if not with_promotion_flag:
        forecast = forecast.drop(columns="is_promoted")
    known = [key for key in series if rng.random() < 0.8] + strangers[10:]
    positions = pd.DataFrame(
        {
            "item_id": [k[0] for k in known],
            "location_id": [k[1] for k in known],
            "inventory_position_units": np.where(rng.random(len(known)) < 0.1, np.nan,
                                                 np.round(rng.normal(60.0, 80.0, len(known)), 1)),
        }
    )
    points = pd.DataFrame(point_rows).sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    return {"weekly_forecast": forecast, "items": items, "inventory_position": positions, "backtest_points": points}


def backtest_rows(rng: np.random.Generator, item_id: str, location_id: str, level: float) -> list[dict]:
    n_origins = int(rng.choice([1, 3, 7, 8, 9, 12, 16, 26]))
    max_horizon = int(rng.choice([1, 2, 4, 4, 4]))
    promoted_share = rng.choice([0.0, 0.3, 0.6])
    exact = rng.random() < 0.1  # a perfect backtest: σ = 0
    rows = []
    for i in range(n_origins):
        origin = AS_OF - timedelta(days=7 * (n_origins + 4 - i))
        weeks = min(max_horizon, n_origins - i + 1)  # the last origins run out of weeks
        origin_promoted = rng.random() < promoted_share
        for h in range(1, weeks + 1):
            actual = round(max(level * rng.uniform(0.5, 1.5), 0.0), 1)
            predicted = actual if exact else round(max(actual + rng.normal(0.0, 0.3 * level + 1.0), 0.0), 1)
            rows.append({"item_id": item_id, "location_id": location_id, "origin_date": origin,
                         "horizon_weeks": h, "is_promoted": bool(origin_promoted and rng.random() < 0.7),
                         "actual_units": actual, "predicted_units": predicted})
    return rows


def at_exact_pack_multiples(inputs: dict, seed: int) -> dict:
    """Move some positions so the shortfall is a whole number of packs (or zero) to float rounding.

    The positions come from the reference's own order-up-to: up_to − k × pack is k packs short up to
    the last bit of up_to, which the pack rounding must not turn into k + 1 packs.
    """
    reference = reference_replenishment_targets(**inputs, as_of_date=AS_OF)
    rng = np.random.default_rng(seed)
    chosen = reference.sample(n=min(60, len(reference)), random_state=seed)
    multiples = rng.integers(0, 4, len(chosen))  # 0: position = order-up-to exactly
    positions = inputs["inventory_position"].set_index(["item_id", "location_id"])["inventory_position_units"]
    positions = positions.drop(list(zip(chosen["item_id"], chosen["location_id"], strict=True)), errors="ignore")
    moved = pd.Series(
        chosen["order_up_to_units"].to_numpy() - multiples * chosen["pack_size"].to_numpy(),
        index=pd.MultiIndex.from_arrays([chosen["item_id"], chosen["location_id"]]),
    )
    table = pd.concat([positions, moved]).rename("inventory_position_units").rename_axis(["item_id", "location_id"])
    return {**inputs, "inventory_position": table.reset_index()}


def assert_same_targets(inputs: dict, **kwargs) -> pd.DataFrame:
    expected = reference_replenishment_targets(**inputs, as_of_date=AS_OF, **kwargs)
    actual = replenishment_targets(**inputs, as_of_date=AS_OF, **kwargs)
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9, atol=1e-9)
    return expected


@pytest.fixture(scope="module")
def inputs() -> dict:
    return at_exact_pack_multiples(synthetic_inputs(seed=20240103), seed=7)


def test_vectorised_targets_equal_the_per_series_loop(inputs):
    expected = assert_same_targets(inputs)
    forecast = inputs["weekly_forecast"]
    assert len(expected) == len(forecast[["item_id", "location_id"]].drop_duplicates()) > 290
    # The edge cases the random set was built to hold are really in it.
    basis = set(expected["sigma_basis"])
    assert {"backtest_regular_windows", "backtest_all_windows", "backtest_promoted_windows",
            "item_relative", "none"} <= basis
    assert (expected["forecast_protection_units"] == 0).any()  # zero demand
    assert expected["inventory_position_units"].isna().any() and expected["suggested_order_units"].isna().any()
    assert (expected["suggested_order_units"] == 0).any() and (expected["suggested_order_units"] > 0).any()
    last_week = pd.to_datetime(forecast.groupby(["item_id", "location_id"])["week_end_date"].max())
    period_end = pd.Timestamp(AS_OF) + pd.to_timedelta(expected.set_index(["item_id", "location_id"])
                                                       ["protection_period_days"], unit="D")
    assert (last_week.reindex(period_end.index) < period_end).sum() > 20  # horizon shorter than P
    promoted = forecast[forecast["is_promoted"].fillna(False).astype(bool)]
    lead_end = pd.Timestamp(AS_OF) + pd.to_timedelta(
        promoted["item_id"].map(inputs["items"].set_index("item_id")["lead_time_days"]), unit="D")
    starts_inside = pd.to_datetime(promoted["week_end_date"]) - pd.Timedelta(days=6) <= lead_end
    assert (starts_inside & (pd.to_datetime(promoted["week_end_date"]) > pd.Timestamp(AS_OF))).sum() > 5


def test_exact_pack_multiples_order_exactly_that_many_packs(inputs):
    expected = assert_same_targets(inputs)
    shortfall = expected["order_up_to_units"] - expected["inventory_position_units"]
    packs = shortfall / expected["pack_size"]
    exact = (packs - packs.round()).abs() < 1e-9
    assert exact.sum() >= 40
    # k packs short (to the last bit) orders k packs, unless the MOQ binds; 0 short orders nothing.
    whole = expected[exact & (expected["moq"] <= shortfall)]
    np.testing.assert_allclose(whole["suggested_order_units"], packs[whole.index].round() * whole["pack_size"])
    assert (expected.loc[exact & (packs.round() == 0), "suggested_order_units"] == 0).all()


@pytest.mark.parametrize(
    ("seed", "kwargs"),
    [
        (1, {}),
        (2, {"review_period_days": 0, "service_level": 0.9}),  # lead time 0 → P = 0: no protection period
        (3, {"review_period_days": 14, "service_level": 0.99}),
        (4, {"min_windows": 3}),
        (5, {"min_windows": 12}),
    ],
)
def test_equivalence_over_seeds_and_settings(seed, kwargs):
    expected = assert_same_targets(synthetic_inputs(seed=seed, n_series=200), **kwargs)
    if kwargs.get("review_period_days") == 0:
        assert (expected["sigma_basis"] == "no_protection_period").any()


def test_equivalence_without_a_promotion_flag_and_with_warehouse_dtypes():
    # demand_weekly without is_promoted: a week is promoted when predicted > baseline. Dates as the
    # warehouse returns them (datetime64), not datetime.date.
    inputs = synthetic_inputs(seed=11, n_series=200, with_promotion_flag=False)
    inputs["weekly_forecast"]["week_end_date"] = pd.to_datetime(inputs["weekly_forecast"]["week_end_date"])
    inputs["backtest_points"]["origin_date"] = pd.to_datetime(inputs["backtest_points"]["origin_date"])
    assert_same_targets(inputs)


def test_empty_forecast_and_empty_backtest():
    inputs = synthetic_inputs(seed=12, n_series=40)
    assert_same_targets({**inputs, "backtest_points": inputs["backtest_points"].iloc[0:0]})
    empty = {**inputs, "weekly_forecast": inputs["weekly_forecast"].iloc[0:0]}
    assert len(assert_same_targets(empty)) == 0


def test_the_table_path_does_not_call_the_per_series_functions(inputs, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("called per row")

    for name in ("forecast_over_days", "protection_sigma", "sigma_protection", "safety_stock", "reorder_point",
                 "order_up_to", "suggested_order", "_round_up_to_pack", "window_weights"):
        monkeypatch.setattr(replenishment, name, forbidden)
    assert len(replenishment_targets(**inputs, as_of_date=AS_OF)) > 290

