"""Rolling-origin backtest of the demand model against simple benchmarks (DESIGN §6).

Origins are the last `backtest_origins` weeks before the final week; from each, the model and
the benchmarks forecast 1 … `backtest_horizon_weeks` weeks ahead with only what was known at
the origin (the approved promotions of the target weeks are known: they are planned ahead).
Each forecast whose target week has an actual is a point; points are scored separately for
promoted and non-promoted target weeks.

The pooled model is refitted at every origin (it is cheap); Prophet every
`backtest_prophet_refit_weeks` origins, its last fit serving the origins in between.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.config import ForecastConfig
from forecasting.metrics import SEASON_WEEKS, seasonal_naive_scale, summarise_errors
from forecasting.model import forecast_at_origin
from forecasting.panel import SERIES_KEY, Panel, build_panel
from forecasting.pool import checked_inputs, prophet_fits
from forecasting.tables import BACKTEST_METRICS, BACKTEST_POINTS, conform, empty_frame

MODEL = "demand_model"  # what forecast.demand_weekly ships: pooled lift + Prophet in promoted weeks
POOLED_ONLY = "pooled_lift_only"  # ablation: the same without Prophet
PROPHET_ONLY = "prophet_only"  # ablation: Prophet alone (the pooled model where Prophet is gated out)
SEASONAL_NAIVE = "seasonal_naive"
LAST_VALUE = "last_value"
PROMOTED = "promoted"
NON_PROMOTED = "non_promoted"
ALL = "all"


def recent_mean_name(weeks: int) -> str:
    return f"mean_{weeks}_non_promoted"


def recent_mean_lift_name(weeks: int) -> str:
    return f"mean_{weeks}_non_promoted_x_lift"


def benchmark_methods(config: ForecastConfig) -> list[str]:
    """The simple benchmarks of the issue, in report order."""
    k = config.benchmark_recent_weeks
    return [SEASONAL_NAIVE, LAST_VALUE, recent_mean_name(k), recent_mean_lift_name(k)]


@dataclass
class BacktestResult:
    points: pd.DataFrame  # forecast.backtest_points
    metrics: pd.DataFrame  # forecast.backtest_metrics
    origin_dates: list[pd.Timestamp]
    prophet_fit_dates: list[pd.Timestamp]
    timings: dict[str, float] = field(default_factory=dict)

    def overall(self) -> pd.DataFrame:
        """Overall WAPE, bias and MASE per method (rows) and segment (columns)."""
        overall = self.metrics[self.metrics["scope"] == "overall"]
        return overall.pivot(index="method", columns="segment", values=["wape", "bias", "mase", "points"])


def run_backtest(
    demand: pd.DataFrame,
    promotion_weeks: pd.DataFrame,
    config: ForecastConfig | None = None,
    *,
    item_categories: pd.DataFrame | None = None,
    scored_series: pd.DataFrame | None = None,
) -> BacktestResult:
    """Backtest on int_demand_weekly / int_promotion_weeks rows; the last week is the end of the test.

    `scored_series` (item_id, location_id) limits the Prophet fits and the scoring to those
    series (to measure a sample); promotion effects are still learnt from every series.
    """
    config = config or ForecastConfig()
    started = time.perf_counter()
    demand, promotion_weeks, last_week = checked_inputs(demand, promotion_weeks)
    if last_week is None:
        return BacktestResult(empty_frame(BACKTEST_POINTS), empty_frame(BACKTEST_METRICS), [], [])
    panel = build_panel(demand, promotion_weeks, last_week, 0, item_categories)
    end = panel.origin_index
    origins = list(range(max(0, end - config.backtest_origins), end))
    if not origins:
        return BacktestResult(empty_frame(BACKTEST_POINTS), empty_frame(BACKTEST_METRICS), [], [])
    scored = _scored_rows(panel, scored_series)
    fit_origins = origins[:: config.backtest_prophet_refit_weeks]

    prophet_started = time.perf_counter()
    fits = prophet_fits(panel.subset(scored), fit_origins, config)
    prophet_seconds = time.perf_counter() - prophet_started

    model_started = time.perf_counter()
    frames = []
    for origin in origins:
        latest_fit = max(o for o in fit_origins if o <= origin)
        prophet = np.full(panel.units.shape, np.nan)
        prophet[scored] = fits.predicted[latest_fit]
        forecast = forecast_at_origin(panel, origin, config, prophet)
        predictions = {
            MODEL: forecast.predicted,
            POOLED_ONLY: forecast.pooled,
            PROPHET_ONLY: np.where(np.isnan(prophet), forecast.pooled, prophet),
        }
        frames.append(_origin_points(panel, origin, scored, predictions, config))
    model_seconds = time.perf_counter() - model_started

    points = pd.concat(frames, ignore_index=True)
    scale = _mase_scales(panel, origins[0])
    points["mase_scale"] = scale[points.pop("row").to_numpy()]
    metrics = _metrics(points, panel, origins, config)
    points = points.drop(columns="mase_scale")
    return BacktestResult(
        points=conform(points, BACKTEST_POINTS),
        metrics=metrics,
        origin_dates=[panel.weeks[o] for o in origins],
        prophet_fit_dates=[panel.weeks[o] for o in fit_origins],
        timings={
            "prophet_seconds": prophet_seconds,
            "model_and_benchmarks_seconds": model_seconds,
            "total_seconds": time.perf_counter() - started,
            "prophet_fits": float(sum(int((~np.isnan(p).all(axis=1)).sum()) for p in fits.predicted.values())),
        },
    )


def accuracy_summary(metrics: pd.DataFrame, config: ForecastConfig | None = None) -> dict[str, float | bool]:
    """The issue's targets from the overall rows: the model's promoted-week WAPE at least 25%
    below the best benchmark's, and its non-promoted WAPE no worse than the best benchmark's."""
    config = config or ForecastConfig()
    overall = metrics[metrics["scope"] == "overall"].set_index(["method", "segment"])["wape"]
    benchmarks = benchmark_methods(config)
    best_promoted = min(overall[(m, PROMOTED)] for m in benchmarks)
    best_regular = min(overall[(m, NON_PROMOTED)] for m in benchmarks)
    model_promoted, model_regular = overall[(MODEL, PROMOTED)], overall[(MODEL, NON_PROMOTED)]
    return {
        "model_promoted_wape": float(model_promoted),
        "model_non_promoted_wape": float(model_regular),
        "best_benchmark_promoted_wape": float(best_promoted),
        "best_benchmark_non_promoted_wape": float(best_regular),
        "promoted_improvement": float(1 - model_promoted / best_promoted),
        "non_promoted_improvement": float(1 - model_regular / best_regular),
        "promoted_target_met": bool(model_promoted <= 0.75 * best_promoted),
        "non_promoted_target_met": bool(model_regular <= best_regular),
    }


def accuracy_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Overall WAPE / bias / MASE per method, promoted and non-promoted side by side (for reports)."""
    overall = metrics[metrics["scope"] == "overall"]
    table = overall.pivot(index="method", columns="segment", values=["wape", "bias", "mase", "points"])
    columns = [
        (measure, segment) for segment in (PROMOTED, NON_PROMOTED, ALL) for measure in ("wape", "bias", "mase")
    ] + [("points", ALL)]
    table = table.loc[:, columns]
    table.columns = [f"{segment} {measure}" for measure, segment in columns]
    table[f"{ALL} points"] = table[f"{ALL} points"].astype(int)
    return table.sort_values(f"{PROMOTED} wape")


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A frame as a Markdown table (index as the first column), numbers to `digits` decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    header = [frame.index.name or "", *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    columns = [frame[column].tolist() for column in frame.columns]
    for position, index in enumerate(frame.index):
        lines.append("| " + " | ".join([str(index), *(cell(values[position]) for values in columns)]) + " |")
    return "\n".join(lines)


def benchmark_forecasts(panel: Panel, origin: int, config: ForecastConfig) -> dict[str, np.ndarray]:
    """(S, W) forecasts of the four simple benchmarks from `origin` (meaningful after the origin).

    seasonal naive: the same week a year (52 weeks) earlier, or the last value when the series
    is younger than that; last value: the origin week's units; mean of the last k non-promoted
    weeks up to the origin (0 if none); that mean × (1 + historical lift) in promoted weeks,
    lift = mean promoted-week units ÷ mean non-promoted-week units − 1 up to the origin (0 unless
    both exist and the non-promoted mean is positive).
    """
    k = config.benchmark_recent_weeks
    history = slice(0, origin + 1)
    units = panel.units[:, history]
    observed = ~np.isnan(units)
    regular = observed & ~panel.promoted[:, history]
    promoted = observed & panel.promoted[:, history]
    last_value = np.nan_to_num(panel.units[:, origin])

    recent_mean = np.zeros(panel.series_count)
    for row in range(panel.series_count):
        recent = units[row][regular[row]][-k:]
        recent_mean[row] = recent.mean() if recent.size else 0.0
    regular_mean = _masked_mean(units, regular)
    promoted_mean = _masked_mean(units, promoted)
    usable = ~np.isnan(regular_mean) & ~np.isnan(promoted_mean) & (np.nan_to_num(regular_mean) > 0)
    lift = np.where(usable, promoted_mean / np.where(usable, regular_mean, 1.0) - 1.0, 0.0)

    weeks = panel.weeks.size
    seasonal = np.full((panel.series_count, weeks), np.nan)
    seasonal[:, SEASON_WEEKS:] = panel.units[:, : weeks - SEASON_WEEKS]
    seasonal[:, : origin + 1] = np.nan  # only the weeks after the origin are forecasts
    # a year back may itself be after the origin only for horizons beyond 52 weeks
    seasonal[:, origin + 1 :] = np.where(
        np.arange(origin + 1, weeks)[None, :] - SEASON_WEEKS <= origin, seasonal[:, origin + 1 :], np.nan
    )
    seasonal = np.where(np.isnan(seasonal), last_value[:, None], seasonal)
    level = np.repeat(recent_mean[:, None], weeks, axis=1)
    return {
        SEASONAL_NAIVE: seasonal,
        LAST_VALUE: np.repeat(last_value[:, None], weeks, axis=1),
        recent_mean_name(k): level,
        recent_mean_lift_name(k): np.where(panel.promoted, np.clip(level * (1.0 + lift[:, None]), 0.0, None), level),
    }


def _masked_mean(units: np.ndarray, mask: np.ndarray) -> np.ndarray:
    counts = mask.sum(axis=1)
    sums = np.where(mask, np.nan_to_num(units), 0.0).sum(axis=1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _origin_points(
    panel: Panel, origin: int, scored: np.ndarray, predictions: dict[str, np.ndarray], config: ForecastConfig
) -> pd.DataFrame:
    end = panel.origin_index
    targets = [origin + h for h in range(1, config.backtest_horizon_weeks + 1) if origin + h <= end]
    rows_list, cols_list = [], []
    started = panel.first_index[scored] <= origin
    candidates = scored[started]
    for target in targets:
        present = candidates[~np.isnan(panel.units[candidates, target])]
        rows_list.append(present)
        cols_list.append(np.full(present.size, target))
    rows = np.concatenate(rows_list) if rows_list else np.zeros(0, int)
    cols = np.concatenate(cols_list) if cols_list else np.zeros(0, int)
    methods = {**predictions, **benchmark_forecasts(panel, origin, config)}
    frames = []
    for method, values in methods.items():
        frames.append(
            pd.DataFrame(
                {
                    "row": rows,
                    "item_id": panel.keys["item_id"].to_numpy()[rows],
                    "location_id": panel.keys["location_id"].to_numpy()[rows],
                    "origin_date": panel.weeks[origin],
                    "horizon_weeks": cols - origin,
                    "week_end_date": panel.weeks[cols],
                    "is_promoted": panel.promoted[rows, cols],
                    "method": method,
                    "actual_units": panel.units[rows, cols],
                    "predicted_units": values[rows, cols],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _mase_scales(panel: Panel, first_origin: int) -> np.ndarray:
    """Per series: mean |y_t − y_{t−52}| over its history up to the first backtest origin."""
    history = [panel.units[s, panel.first_index[s] : first_origin + 1] for s in range(panel.series_count)]
    return np.array([seasonal_naive_scale(units) for units in history])


def _metrics(points: pd.DataFrame, panel: Panel, origins: list[int], config: ForecastConfig) -> pd.DataFrame:
    segmented = points.assign(segment=np.where(points["is_promoted"], PROMOTED, NON_PROMOTED))
    both = pd.concat([segmented, segmented.assign(segment=ALL)], ignore_index=True)
    overall = summarise_errors(both, ["method", "segment"]).assign(scope="overall")
    by_horizon = summarise_errors(both, ["method", "horizon_weeks", "segment"]).assign(scope="horizon")
    by_series = summarise_errors(both, [*SERIES_KEY, "method", "segment"]).assign(scope="series")
    metrics = pd.concat([overall, by_horizon, by_series], ignore_index=True)
    for column in (*SERIES_KEY, "horizon_weeks"):
        if column not in metrics.columns:
            metrics[column] = None
    metrics["first_origin_date"] = panel.weeks[origins[0]]
    metrics["last_origin_date"] = panel.weeks[origins[-1]]
    metrics["model_version"] = config.model_version
    metrics["horizon_weeks"] = metrics["horizon_weeks"].astype("Int32")
    return conform(metrics, BACKTEST_METRICS)


def _scored_rows(panel: Panel, scored_series: pd.DataFrame | None) -> np.ndarray:
    if scored_series is None:
        return np.arange(panel.series_count)
    wanted = set(zip(scored_series["item_id"].astype(str), scored_series["location_id"].astype(str), strict=True))
    keys = zip(panel.keys["item_id"], panel.keys["location_id"], strict=True)
    return np.array([row for row, key in enumerate(keys) if key in wanted], dtype=int)
