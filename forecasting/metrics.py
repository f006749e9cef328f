"""Forecast accuracy measures (DESIGN §6): WAPE, bias and MASE against seasonal naive.

WAPE = Σ|y − ŷ| ÷ Σy and bias = Σ(ŷ − y) ÷ Σy, so they add up over series and weeks as parts
(numerator and denominator are kept); MASE divides each absolute error by its series' in-sample
mean absolute seasonal difference (|y_t − y_{t−52}| over the history before the backtest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEASON_WEEKS = 52


def wape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Σ|y − ŷ| ÷ Σy; NaN when Σy is not positive (no volume to weigh the errors by)."""
    actual = np.asarray(actual, float)
    total = actual.sum()
    return float(np.abs(actual - np.asarray(predicted, float)).sum() / total) if total > 0 else float("nan")


def bias(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Σ(ŷ − y) ÷ Σy: positive means over-forecasting; NaN when Σy is not positive."""
    actual = np.asarray(actual, float)
    total = actual.sum()
    return float((np.asarray(predicted, float) - actual).sum() / total) if total > 0 else float("nan")


def seasonal_naive_scale(units: np.ndarray, season: int = SEASON_WEEKS) -> float:
    """Mean |y_t − y_{t−season}| over a series' history (NaN where the history is shorter than a season+1).

    `units` is the series' gap-free weekly history (NaN before its first sale is ignored).
    """
    units = np.asarray(units, float)
    if units.size <= season:
        return float("nan")
    differences = np.abs(units[season:] - units[:-season])
    differences = differences[~np.isnan(differences)]
    return float(differences.mean()) if differences.size else float("nan")


def summarise_errors(points: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Aggregate scored points into metric rows.

    `points` needs actual_units, predicted_units and mase_scale (NaN or 0 = no MASE for that
    series); returns one row per group of `by` with points, actual_units, abs_error_units,
    error_units (Σ(ŷ − y)), wape, bias, mase and rmse_units.
    """
    frame = points.assign(
        abs_error=(points["predicted_units"] - points["actual_units"]).abs(),
        error=points["predicted_units"] - points["actual_units"],
    )
    frame["squared_error"] = frame["error"] ** 2
    usable = frame["mase_scale"].notna() & (frame["mase_scale"] > 0)
    frame["scaled_error"] = np.where(usable, frame["abs_error"] / frame["mase_scale"].where(usable), np.nan)
    grouped = frame.groupby(by, sort=True, dropna=False).agg(
        points=("actual_units", "size"),
        actual_units=("actual_units", "sum"),
        abs_error_units=("abs_error", "sum"),
        error_units=("error", "sum"),
        squared_error=("squared_error", "sum"),
        mase=("scaled_error", "mean"),
    )
    grouped = grouped.reset_index()
    positive = grouped["actual_units"] > 0
    grouped["wape"] = (grouped["abs_error_units"] / grouped["actual_units"]).where(positive)
    grouped["bias"] = (grouped["error_units"] / grouped["actual_units"]).where(positive)
    grouped["rmse_units"] = np.sqrt(grouped["squared_error"] / grouped["points"])
    return grouped.drop(columns="squared_error")
