"""One series at a time: Prophet recovers a known promotion lift, and the fallback method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import forecasting.demand as demand
from forecasting import FALLBACK_MEAN, PROPHET, ForecastConfig, forecast_series

WEDNESDAY = pd.Timestamp("2021-01-06")  # weeks end on Wednesday
# z for an 80% two-sided interval: NormalDist().inv_cdf(0.9), from a normal table.
Z80 = 1.2815516


def weekly_rows(units, promoted=None, depth=0.25, start=WEDNESDAY, skip=()) -> pd.DataFrame:
    """int_demand_weekly-shaped rows for one series; weeks whose index is in `skip` are absent."""
    units = np.asarray(units, dtype=float)
    promoted = np.zeros(units.size, bool) if promoted is None else np.asarray(promoted, bool)
    frame = pd.DataFrame(
        {
            "week_end_date": pd.date_range(start, periods=units.size, freq="7D"),
            "units": units,
            "discount_depth": np.where(promoted, depth, 0.0),
            "feature": 0,
            "display": 0,
            "is_promoted": promoted,
        }
    )
    return frame.drop(index=list(skip)).reset_index(drop=True)


def planned(weeks: list[pd.Timestamp], depth: float = 0.25) -> pd.DataFrame:
    """int_promotion_weeks-shaped rows of one series."""
    return pd.DataFrame(
        {"week_end_date": weeks, "discount_depth": depth, "feature": 0, "display": 0, "promotion_id": "P1"}
    )


def run(history, future=None, config=None, **kwargs):
    return forecast_series(
        history, future, config or ForecastConfig(workers=1), item_id="I1", location_id="S1", **kwargs
    )


# --- (a) Prophet recovers a multiplicative promotion lift ------------------------------------


@pytest.fixture(scope="module")
def promoted_series():
    # Truth: 40 units a week, 15 weeks at 25% off lifting sales by 2.0 × 0.25 = 50% (60 units).
    # Poisson noise (sd ≈ 6.3 a week) makes the estimated 15-week uplift uncertain by roughly
    # ±10%, so the ±20% tolerance is about two standard errors.
    rng = np.random.default_rng(2024)
    promoted = np.zeros(104, bool)
    promoted[rng.choice(np.arange(4, 104), size=15, replace=False)] = True
    units = rng.poisson(40 * np.where(promoted, 1.5, 1.0)).astype(float)
    history = weekly_rows(units, promoted)
    origin = history["week_end_date"].iloc[-1]
    future = planned([origin + pd.Timedelta(weeks=3)])
    return history, promoted, future, run(history, future)


def test_prophet_recovers_true_uplift_and_baseline(promoted_series):
    history, promoted, _, result = promoted_series
    weekly = result.weekly
    assert result.fit_log["method"] == PROPHET and result.fit_log["status"] == "fitted"
    assert result.fit_log["reason"] is None
    in_sample = weekly[weekly["is_history"]].reset_index(drop=True)
    fitted_uplift = (in_sample["predicted_units"] - in_sample["baseline_units"])[promoted].sum()
    true_uplift = 15 * 40 * 0.5  # = 300 units
    assert fitted_uplift == pytest.approx(true_uplift, rel=0.20)
    assert in_sample["baseline_units"].mean() == pytest.approx(40, rel=0.10)
    # Non-promoted weeks: the prediction is the baseline (promotion inputs are zero anyway).
    regular = in_sample[~promoted]
    np.testing.assert_allclose(regular["predicted_units"], regular["baseline_units"])


def test_planned_promotion_in_horizon_gets_the_learned_lift(promoted_series):
    history, _, future, result = promoted_series
    horizon = result.weekly[~result.weekly["is_history"]].reset_index(drop=True)
    assert len(horizon) == 8
    origin = history["week_end_date"].iloc[-1]
    expected_dates = [(origin + pd.Timedelta(weeks=k)).date() for k in range(1, 9)]
    assert list(horizon["week_end_date"]) == expected_dates
    assert horizon["actual_units"].isna().all()
    promo_week = horizon.iloc[2]  # origin + 3 weeks
    # True lift of a 25%-off week is 1.5×; allow the same ±20% on the uplift part (0.4–0.6).
    lift = promo_week["predicted_units"] / promo_week["baseline_units"] - 1
    assert lift == pytest.approx(0.5, rel=0.20)
    others = horizon.drop(index=2)
    np.testing.assert_allclose(others["predicted_units"], others["baseline_units"])
    assert (horizon["predicted_lower"] <= horizon["predicted_units"]).all()
    assert (horizon["predicted_upper"] >= horizon["predicted_units"]).all()


def test_residual_sigma_is_close_to_the_noise(promoted_series):
    # Poisson(40) has sd sqrt(40) ≈ 6.32; in-sample residuals of a good fit are a little tighter.
    _, _, _, result = promoted_series
    assert 4.5 < result.residual_sigma_units < 7.5


# --- (b) fallback cases: rows, a flag, never an exception ------------------------------------


def test_all_zero_series_falls_back_to_zero():
    result = run(weekly_rows(np.zeros(40)))
    assert result.fit_log["status"] == "fallback"
    assert result.fit_log["method"] == FALLBACK_MEAN
    assert result.fit_log["reason"] == "all weeks have zero units"
    assert result.fit_log["nonzero_weeks"] == 0
    assert len(result.weekly) == 40 + 8
    assert (result.weekly["method"] == FALLBACK_MEAN).all()
    assert (result.weekly[["predicted_units", "baseline_units", "predicted_lower", "predicted_upper"]] == 0).all().all()


def test_single_observation():
    result = run(weekly_rows([12.0]))
    # One non-promoted week of 12: baseline 12, no spread to build an interval from.
    assert result.fit_log["status"] == "fallback"
    assert result.fit_log["history_weeks"] == 1
    assert "shorter than 26" in result.fit_log["reason"]
    assert len(result.weekly) == 1 + 8
    assert (result.weekly["baseline_units"] == 12.0).all()
    assert (result.weekly["predicted_units"] == 12.0).all()
    assert (result.weekly["predicted_upper"] == 12.0).all()
    assert result.residual_sigma_units == 0.0


def test_five_weeks_with_a_promotion_by_hand():
    # Units 10, 14, 30 (promoted), 12, 16.
    # Non-promoted 10, 14, 12, 16: mean 13; deviations −3, 1, −1, 3 → variance 20/3, sd 2.5820.
    # Lift = 30 / 13 − 1 = 1.3077, so a promoted week is predicted 13 × 30/13 = 30.
    # Interval half-width = 1.28155 × 2.5820 = 3.3090.
    history = weekly_rows([10, 14, 30, 12, 16], promoted=[False, False, True, False, False])
    origin = history["week_end_date"].iloc[-1]
    result = run(history, planned([origin + pd.Timedelta(weeks=2)]))
    weekly = result.weekly
    assert result.fit_log["status"] == "fallback"
    assert result.fit_log["promoted_weeks"] == 1
    np.testing.assert_allclose(weekly["baseline_units"], 13.0)
    expected_predicted = [13, 13, 30, 13, 13] + [13, 30, 13, 13, 13, 13, 13, 13]
    np.testing.assert_allclose(weekly["predicted_units"], expected_predicted)
    np.testing.assert_allclose(weekly["predicted_upper"] - weekly["predicted_units"], 3.3090, atol=1e-3)
    np.testing.assert_allclose(weekly["predicted_units"] - weekly["predicted_lower"], 3.3090, atol=1e-3)
    np.testing.assert_allclose(weekly["actual_units"].iloc[:5], [10, 14, 30, 12, 16])


def test_negative_units_from_net_returns():
    # Ten weeks: 8, −2, 6, 4, −4, 10, 5, 3, 7, 3. The last eight non-promoted weeks are
    # 6, 4, −4, 10, 5, 3, 7, 3: sum 34, mean 4.25.
    result = run(weekly_rows([8, -2, 6, 4, -4, 10, 5, 3, 7, 3]))
    assert result.fit_log["status"] == "fallback"
    assert result.fit_log["nonzero_weeks"] == 10
    np.testing.assert_allclose(result.weekly["baseline_units"], 4.25)
    assert (result.weekly["predicted_lower"] >= 0).all()


def test_negative_units_in_a_long_series_still_fit_and_clip_at_zero():
    rng = np.random.default_rng(5)
    units = rng.poisson(3, size=60).astype(float)
    units[[7, 19, 33]] = [-4, -6, -3]
    result = run(weekly_rows(units))
    assert result.fit_log["status"] == "fitted"
    assert (result.weekly[["predicted_units", "baseline_units", "predicted_lower"]] >= 0).all().all()


def test_missing_weeks_are_zero_unit_unpromoted_weeks():
    # Weeks 1 and 2 of 6 have no row: the grid fills them with 0 units and no promotion.
    # Non-promoted units 20, 0, 0, 22, 18, 20 (week 3 has none: all six are regular) → mean 80/6.
    history = weekly_rows([20, 99, 99, 22, 18, 20], skip=(1, 2))
    result = run(history)
    in_sample = result.weekly[result.weekly["is_history"]]
    assert result.fit_log["history_weeks"] == 6
    assert result.fit_log["nonzero_weeks"] == 4
    np.testing.assert_allclose(in_sample["actual_units"], [20, 0, 0, 22, 18, 20])
    np.testing.assert_allclose(result.weekly["baseline_units"], 80 / 6)


def test_series_history_runs_to_the_forecast_origin():
    # A series that last sold 3 weeks before the extract's last week: those weeks are zeros,
    # and its horizon starts where every other series' does.
    history = weekly_rows([5, 6, 7])
    origin = history["week_end_date"].iloc[-1] + pd.Timedelta(weeks=3)
    result = run(history, forecast_origin=origin)
    in_sample = result.weekly[result.weekly["is_history"]]
    np.testing.assert_allclose(in_sample["actual_units"], [5, 6, 7, 0, 0, 0])
    first_horizon = result.weekly[~result.weekly["is_history"]]["week_end_date"].iloc[0]
    assert first_horizon == (origin + pd.Timedelta(weeks=1)).date()


def test_a_failing_fit_falls_back_and_records_why(monkeypatch):
    def broken_fit(*args, **kwargs):
        raise RuntimeError("optimizer diverged")

    monkeypatch.setattr(demand, "prophet_predictions", broken_fit)
    result = run(weekly_rows(np.full(30, 10.0)))
    assert result.fit_log["status"] == "fallback"
    assert result.fit_log["reason"] == "prophet fit failed: RuntimeError: optimizer diverged"
    assert (result.weekly["predicted_units"] == 10.0).all()


def test_sparse_series_falls_back():
    units = np.zeros(40)
    units[[3, 9, 20]] = 4.0
    result = run(weekly_rows(units))
    assert result.fit_log["reason"] == "only 3 non-zero weeks, fewer than 13"


def test_off_grid_week_is_rejected_with_its_date():
    history = weekly_rows([5, 6, 7])
    history.loc[1, "week_end_date"] = history.loc[1, "week_end_date"] + pd.Timedelta(days=2)
    with pytest.raises(ValueError, match=r"week_end_date 2021-01-15 \(row 1\)"):
        run(history)


# --- (c) determinism -------------------------------------------------------------------------


def test_same_input_gives_the_same_numbers(promoted_series):
    history, _, future, first = promoted_series
    # Disturb numpy's global generator in between: the forecast must not depend on it.
    np.random.seed(99)
    np.random.normal(size=10)
    state_before = np.random.get_state()[1].copy()
    second = run(history, future)
    pd.testing.assert_frame_equal(first.weekly, second.weekly)
    assert first.residual_sigma_units == second.residual_sigma_units
    # ...and must leave the caller's generator where it was.
    np.testing.assert_array_equal(np.random.get_state()[1], state_before)
