"""The per-series Prophet member: gates, a known multiplicative lift, failures recorded, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import forecasting.demand as demand
from forecasting import ForecastConfig
from forecasting.demand import SeriesRows, fit_batch, fit_series, prophet_gate

WEEKS = pd.date_range("2021-01-06", periods=112, freq="7D")  # Wednesdays


def rows_of(units, depth=None, position=0, first_index=0) -> SeriesRows:
    units = np.asarray(units, float)
    depth = np.zeros(units.size) if depth is None else np.asarray(depth, float)
    return SeriesRows(position, units, depth, np.zeros(units.size), np.zeros(units.size), first_index)


@pytest.mark.parametrize(
    ("units", "reason"),
    [
        (np.zeros(40), "all weeks have zero units"),
        (np.full(20, 5.0), "history of 20 weeks is shorter than 26"),
        (np.r_[np.zeros(37), [4.0, 4.0, 4.0]], "only 3 non-zero weeks, fewer than 13"),
        (np.full(26, 5.0), None),
    ],
)
def test_prophet_gate(units, reason):
    assert prophet_gate(units, ForecastConfig(workers=1)) == reason


@pytest.fixture(scope="module")
def lifted_series():
    # Truth: 40 units a week; 15 weeks at 25% off sell 1.5× (60). Horizon: 8 weeks, the 3rd at 25% off.
    rng = np.random.default_rng(2024)
    history = 104
    promoted = np.zeros(history, bool)
    promoted[rng.choice(np.arange(4, history), size=15, replace=False)] = True
    units = np.r_[rng.poisson(40 * np.where(promoted, 1.5, 1.0)).astype(float), np.full(8, np.nan)]
    depth = np.r_[np.where(promoted, 0.25, 0.0), [0, 0, 0.25, 0, 0, 0, 0, 0]]
    rows = rows_of(units, depth)
    return rows, fit_series(rows, WEEKS, history - 1, ForecastConfig(workers=1))


def test_prophet_learns_the_multiplicative_lift(lifted_series):
    rows, fit = lifted_series
    assert fit.reason is None and fit.predicted.shape == (112,)
    horizon = fit.predicted[104:]
    # The 25%-off week sells 1.5× the neighbouring weeks; ±20% on the uplift part (0.4–0.6).
    lift = horizon[2] / np.mean(np.r_[horizon[:2], horizon[3:]]) - 1
    assert lift == pytest.approx(0.5, rel=0.20)
    # The level of unpromoted weeks is the truth's 40 within 10%.
    assert np.mean(np.r_[horizon[:2], horizon[3:]]) == pytest.approx(40, rel=0.10)


def test_same_input_same_numbers_and_numpy_state_untouched(lifted_series):
    rows, first = lifted_series
    np.random.seed(99)
    state = np.random.get_state()[1].copy()
    second = fit_series(rows, WEEKS, 103, ForecastConfig(workers=1))
    np.testing.assert_array_equal(first.predicted, second.predicted)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_a_failing_fit_is_recorded_not_raised(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("optimizer diverged")

    monkeypatch.setattr(demand, "_prophet_predict", broken)
    fit = fit_series(rows_of(np.full(30, 10.0)), WEEKS, 29, ForecastConfig(workers=1))
    assert fit.predicted is None
    assert fit.reason == "prophet fit failed: RuntimeError: optimizer diverged"


def test_batch_fits_every_series_at_every_origin_and_respects_first_weeks():
    rng = np.random.default_rng(3)
    late_start = np.r_[np.full(10, np.nan), rng.poisson(20, 50).astype(float)]
    batch = [rows_of(rng.poisson(20, 60).astype(float), position=0), rows_of(late_start, position=1, first_index=10)]
    fits = fit_batch(batch, WEEKS[:60], [39, 59], ForecastConfig(workers=1))
    assert [(f.position, f.fit_origin) for f in fits] == [(0, 39), (0, 59), (1, 39), (1, 59)]
    assert all(f.reason is None for f in fits)
    late = fits[2].predicted
    assert np.isnan(late[:10]).all() and (late[10:] >= 0).all()
