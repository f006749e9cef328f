"""The rolling-origin backtest: benchmarks and metrics by hand, points and roll-ups recomputed with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_builders import demand_rows, frames, promotion_rows, week

from forecasting import ForecastConfig, run_backtest
from forecasting.backtest import (
    LAST_VALUE,
    MODEL,
    POOLED_ONLY,
    PROPHET_ONLY,
    SEASONAL_NAIVE,
    accuracy_summary,
    benchmark_forecasts,
    markdown_table,
    recent_mean_lift_name,
    recent_mean_name,
)
from forecasting.metrics import bias, seasonal_naive_scale, summarise_errors, wape
from forecasting.panel import build_panel
from forecasting.pool import checked_inputs

MEAN8 = recent_mean_name(8)
MEAN8_LIFT = recent_mean_lift_name(8)


def test_wape_bias_mase_by_hand():
    # actual 10, 0, 5; predicted 12, 1, 2: |e| = 2, 1, 3 → WAPE 6/15 = 0.4; Σe = 2 + 1 − 3 = 0 → bias 0.
    # MASE: scales 2, 2 and NaN (no season of history): (2/2 + 1/2) / 2 = 0.75. RMSE sqrt(14/3) = 2.1602.
    points = pd.DataFrame(
        {"method": "m", "actual_units": [10.0, 0.0, 5.0], "predicted_units": [12.0, 1.0, 2.0],
         "mase_scale": [2.0, 2.0, np.nan]}
    )
    row = summarise_errors(points, ["method"]).iloc[0]
    assert (row["wape"], row["bias"], row["mase"]) == (pytest.approx(0.4), pytest.approx(0.0), pytest.approx(0.75))
    assert row["rmse_units"] == pytest.approx(2.1602, abs=1e-4)
    assert (row["points"], row["actual_units"], row["abs_error_units"]) == (3, 15.0, 6.0)
    assert wape([10, 0, 5], [12, 1, 2]) == pytest.approx(0.4) and bias([4], [5]) == pytest.approx(0.25)
    assert np.isnan(wape([0, 0], [1, 1]))


def test_seasonal_naive_scale_by_hand():
    # 54 weeks: y_t = t for t < 52, then 60, 70: |60 − 0| and |70 − 1| → (60 + 69) / 2 = 64.5.
    units = np.r_[np.arange(52.0), [60.0, 70.0]]
    assert seasonal_naive_scale(units) == pytest.approx(64.5)
    assert np.isnan(seasonal_naive_scale(np.arange(52.0)))


def test_benchmarks_by_hand():
    # A sells k + 1 units in week k (k = 0 … 59), promoted in weeks 5 and 56; B starts in week 30.
    promoted = np.isin(np.arange(60), [5, 56])
    demand = demand_rows("A", "S1", np.arange(1.0, 61.0), promoted)
    demand += demand_rows("B", "S1", np.r_[np.full(30, np.nan), np.full(30, 7.0)])
    plans = promotion_rows("P", "A", "S1", [week(5), week(56)])
    checked, plans, last = checked_inputs(*frames(demand, plans))
    panel = build_panel(checked, plans, last, 0)
    forecasts = benchmark_forecasts(panel, 55, ForecastConfig(workers=1))
    a, b = 0, 1
    # Last value: week 55 sold 56. Seasonal naive: week 57 ← week 5 (6 units), week 56 ← week 4 (5).
    assert forecasts[LAST_VALUE][a, 57] == 56
    assert forecasts[SEASONAL_NAIVE][a, 56] == 5 and forecasts[SEASONAL_NAIVE][a, 57] == 6
    # B is younger than a year: seasonal naive falls back to its last value, 7.
    assert forecasts[SEASONAL_NAIVE][b, 57] == 7
    # Mean of the last 8 non-promoted weeks up to 55: weeks 48 … 55 sold 49 … 56 → 52.5.
    assert forecasts[MEAN8][a, 56] == pytest.approx(52.5)
    # Lift: promoted week 5 sold 6; non-promoted weeks 0 … 55 but 5 sold 1590 in 55 weeks = 28.909;
    # 6 / 28.909 − 1 = −0.79245, so the promoted week 56 gets 52.5 × 0.20755 = 10.8962; week 57 52.5.
    assert forecasts[MEAN8_LIFT][a, 56] == pytest.approx(10.8962, abs=1e-4)
    assert forecasts[MEAN8_LIFT][a, 57] == pytest.approx(52.5)
    assert forecasts[MEAN8_LIFT][b, 57] == pytest.approx(7.0)  # never promoted: lift 0


@pytest.fixture(scope="module")
def small_backtest():
    """Three stores of one item, 70 weeks, promotions every 6th week at 1.6×; Prophet on."""
    rng = np.random.default_rng(21)
    weeks = 70
    demand, plans = [], []
    for store in range(3):
        promoted = (np.arange(weeks) + store) % 6 == 0
        units = rng.poisson(25 * np.where(promoted, 1.6, 1.0)).astype(float)
        demand += demand_rows("I", f"S{store}", units, promoted)
        plans += promotion_rows(f"P{store}", "I", f"S{store}", [week(k) for k in np.where(promoted)[0]])
    demand, plans = frames(demand, plans)
    config = ForecastConfig(workers=1, backtest_origins=26, backtest_horizon_weeks=4, backtest_prophet_refit_weeks=13)
    return demand, plans, run_backtest(demand, plans, config)


def test_origins_horizons_and_point_counts(small_backtest):
    demand, _, result = small_backtest
    assert result.origin_dates == [week(k) for k in range(43, 69)]
    assert result.prophet_fit_dates == [week(43), week(56)]
    points = result.points
    # Per series and method: 26 + 25 + 24 + 23 = 98 points (targets stop at the last week, 69).
    counts = points.groupby(["location_id", "method"]).size()
    assert set(counts) == {98}
    methods = {MODEL, POOLED_ONLY, PROPHET_ONLY, SEASONAL_NAIVE, LAST_VALUE, MEAN8, MEAN8_LIFT}
    assert set(points["method"]) == methods
    assert (pd.to_datetime(points["week_end_date"]) - pd.to_datetime(points["origin_date"])
            == pd.to_timedelta(7 * points["horizon_weeks"], unit="D")).all()


def test_points_carry_the_actuals_and_last_value_from_the_input(small_backtest):
    demand, _, result = small_backtest
    actual = demand.set_index(["location_id", "week_end_date"])["units"]
    points = result.points[result.points["method"] == LAST_VALUE]
    keys = list(zip(points["location_id"], points["week_end_date"], strict=True))
    np.testing.assert_allclose(points["actual_units"], actual.loc[keys].to_numpy())
    origin_keys = list(zip(points["location_id"], points["origin_date"], strict=True))
    np.testing.assert_allclose(points["predicted_units"], actual.loc[origin_keys].to_numpy())
    promoted = demand.set_index(["location_id", "week_end_date"])["is_promoted"]
    np.testing.assert_array_equal(points["is_promoted"], promoted.loc[keys].to_numpy())


def test_overall_metrics_equal_a_pandas_recomputation(small_backtest):
    _, _, result = small_backtest
    points = result.points.assign(error=lambda f: f["predicted_units"] - f["actual_units"])
    overall = result.metrics[result.metrics["scope"] == "overall"].set_index(["method", "segment"])
    for (method, promoted), group in points.groupby(["method", "is_promoted"]):
        segment = "promoted" if promoted else "non_promoted"
        total = group["actual_units"].sum()
        assert overall.loc[(method, segment), "wape"] == pytest.approx(group["error"].abs().sum() / total)
        assert overall.loc[(method, segment), "bias"] == pytest.approx(group["error"].sum() / total)
        assert overall.loc[(method, segment), "points"] == len(group)
    series = result.metrics[(result.metrics["scope"] == "series") & (result.metrics["segment"] == "all")]
    assert len(series) == 3 * 7
    horizon = result.metrics[(result.metrics["scope"] == "horizon") & (result.metrics["segment"] == "all")]
    assert sorted(horizon["horizon_weeks"].unique()) == [1, 2, 3, 4]


def test_scored_series_limits_fits_and_points_but_not_the_pooling(small_backtest):
    demand, plans, full = small_backtest
    config = ForecastConfig(workers=1, prophet_weight=0.0)
    only = run_backtest(demand, plans, config, scored_series=pd.DataFrame({"item_id": ["I"], "location_id": ["S1"]}))
    assert set(only.points["location_id"]) == {"S1"}
    # Without Prophet the model is the pooled model, learnt from all three stores either way.
    pooled_full = full.points[(full.points["method"] == POOLED_ONLY) & (full.points["location_id"] == "S1")]
    model_only = only.points[only.points["method"] == MODEL]
    np.testing.assert_allclose(model_only["predicted_units"].to_numpy(), pooled_full["predicted_units"].to_numpy())


def test_accuracy_summary_and_markdown_by_hand():
    rows = []
    for method, promoted, regular in [
        (MODEL, 0.30, 0.29), (SEASONAL_NAIVE, 0.60, 0.80), (LAST_VALUE, 0.55, 0.50), (MEAN8, 0.56, 0.30),
        (MEAN8_LIFT, 0.48, 0.30),
    ]:
        rows += [{"scope": "overall", "method": method, "segment": "promoted", "wape": promoted},
                 {"scope": "overall", "method": method, "segment": "non_promoted", "wape": regular}]
    summary = accuracy_summary(pd.DataFrame(rows), ForecastConfig(workers=1))
    # Best promoted benchmark 0.48: 1 − 0.30 / 0.48 = 0.375 ≥ 0.25; best non-promoted 0.30 ≥ 0.29.
    assert summary["best_benchmark_promoted_wape"] == 0.48
    assert summary["promoted_improvement"] == pytest.approx(0.375)
    assert summary["promoted_target_met"] and summary["non_promoted_target_met"]
    table = markdown_table(pd.DataFrame({"wape": [0.1234]}, index=pd.Index(["m"], name="method")))
    assert table == "| method | wape |\n|---|---|\n| m | 0.123 |"


def test_a_history_shorter_than_the_origins_still_backtests():
    demand = demand_rows("A", "S1", np.arange(1.0, 11.0))
    result = run_backtest(*frames(demand, []), ForecastConfig(workers=1, prophet_weight=0.0))
    # 10 weeks: origins are weeks 0 … 8, each scoring the weeks after it up to week 9.
    assert len(result.origin_dates) == 9
    assert len(result.points[result.points["method"] == MODEL]) == 4 + 4 + 4 + 4 + 4 + 4 + 3 + 2 + 1
