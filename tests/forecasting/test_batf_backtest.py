"""The backtest on real Breakfast at the Frat data (10 stores, without Prophet to stay quick).

The inputs are built straight from transactions.parquet with the adapter's documented rule for a
promoted week (feature, display or TPR flag, or price more than 1% below base price); the
benchmarks' errors are then recomputed with pandas (rolling means, as-of joins), independently
of the backtest's array code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting import ForecastConfig, run_backtest
from forecasting.backtest import LAST_VALUE, MODEL, recent_mean_lift_name, recent_mean_name

BATF = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dunnhumby_breakfast_at_the_frat"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.real_data,
    pytest.mark.skipif(not BATF.is_dir(), reason="../shared/data/dunnhumby_breakfast_at_the_frat is absent"),
]


@pytest.fixture(scope="module")
def ten_stores():
    sales = pd.read_parquet(BATF / "transactions.parquet")
    sales["location_id"] = sales["store_num"].astype(str)
    sales["item_id"] = sales["upc"].astype(str)
    stores = sorted(sales["location_id"].unique())[:10]
    sales = sales[sales["location_id"].isin(stores)].copy()
    price, base = sales["price"].astype(float), sales["base_price"].astype(float)
    promoted = (sales["feature"] == 1) | (sales["display"] == 1) | (sales["tpr_only"] == 1) | (price < 0.99 * base)
    demand = pd.DataFrame(
        {
            "item_id": sales["item_id"],
            "location_id": sales["location_id"],
            "week_end_date": pd.to_datetime(sales["week_end_date"]),
            "units": sales["units"].astype(float),
            "discount_depth": np.where(promoted, (1 - price / base).clip(0, 1).fillna(0), 0.0),
            "feature": np.where(promoted, sales["feature"], 0),
            "display": np.where(promoted, sales["display"], 0),
            "is_promoted": promoted.to_numpy(),
        }
    ).reset_index(drop=True)
    plans = demand[demand["is_promoted"]].assign(promotion_id="P")[
        ["promotion_id", "item_id", "location_id", "week_end_date", "discount_depth", "feature", "display"]
    ]
    result = run_backtest(demand, plans, ForecastConfig(workers=1, prophet_weight=0.0))
    return demand, result


def _pandas_benchmarks(demand: pd.DataFrame, origins: list[pd.Timestamp]) -> pd.DataFrame:
    """Mean of the last 8 non-promoted weeks (× historical lift) and last value, per series and origin."""
    last = demand["week_end_date"].max()
    frames = []
    for (item, location), rows in demand.groupby(["item_id", "location_id"]):
        grid = pd.DataFrame({"week_end_date": pd.date_range(rows["week_end_date"].min(), last, freq="7D")})
        grid = grid.merge(rows[["week_end_date", "units", "is_promoted"]], on="week_end_date", how="left")
        grid["units"] = grid["units"].fillna(0.0)
        grid["is_promoted"] = grid["is_promoted"].fillna(False).astype(bool)
        regular = grid[~grid["is_promoted"]].assign(mean8=lambda g: g["units"].rolling(8, min_periods=1).mean())
        grid = pd.merge_asof(grid, regular[["week_end_date", "mean8"]], on="week_end_date")
        grid["regular_mean"] = grid["units"].where(~grid["is_promoted"]).expanding().mean()
        grid["promoted_mean"] = grid["units"].where(grid["is_promoted"]).expanding().mean()
        grid = grid.assign(item_id=item, location_id=location)
        frames.append(grid[grid["week_end_date"].isin(origins)])
    by_origin = pd.concat(frames, ignore_index=True)
    by_origin["mean8"] = by_origin["mean8"].fillna(0.0)
    usable = by_origin["regular_mean"].gt(0) & by_origin["promoted_mean"].notna()
    by_origin["lift"] = np.where(usable, by_origin["promoted_mean"] / by_origin["regular_mean"] - 1, 0.0)
    by_origin = by_origin.rename(columns={"week_end_date": "origin_date", "units": "origin_units"})
    return by_origin[["item_id", "location_id", "origin_date", "origin_units", "mean8", "lift"]]


def test_benchmarks_match_a_pandas_recomputation(ten_stores):
    demand, result = ten_stores
    expected = _pandas_benchmarks(demand, result.origin_dates)
    points = result.points.copy()
    points["origin_date"] = pd.to_datetime(points["origin_date"])
    joined = points.merge(expected, on=["item_id", "location_id", "origin_date"], how="left", validate="many_to_one")
    mean8 = joined[joined["method"] == recent_mean_name(8)]
    np.testing.assert_allclose(mean8["predicted_units"], mean8["mean8"], rtol=1e-9)
    lifted = joined[joined["method"] == recent_mean_lift_name(8)]
    want = np.where(lifted["is_promoted"], (lifted["mean8"] * (1 + lifted["lift"])).clip(lower=0), lifted["mean8"])
    np.testing.assert_allclose(lifted["predicted_units"], want, rtol=1e-9)
    last_value = joined[joined["method"] == LAST_VALUE]
    np.testing.assert_allclose(last_value["predicted_units"], last_value["origin_units"])


def test_pooled_model_earns_its_place_on_promoted_weeks(ten_stores):
    # Measured, not hand-computed: on these 10 stores the pooled lift must beat mean × lift on
    # promoted weeks by a wide margin (~25% on all 77 stores) and not lose on ordinary weeks.
    _, result = ten_stores
    overall = result.metrics[result.metrics["scope"] == "overall"].set_index(["method", "segment"])["wape"]
    assert overall[(MODEL, "promoted")] < 0.85 * overall[(recent_mean_lift_name(8), "promoted")]
    assert overall[(MODEL, "non_promoted")] <= 1.01 * overall[(recent_mean_name(8), "non_promoted")]
