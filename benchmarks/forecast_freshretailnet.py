"""FreshRetailNet-50K: can 50,000 daily series be forecast in under 30 minutes, and at what cost in accuracy?

One Prophet fit per series (~0.1 s) is ~5,000 s of CPU: over 40 minutes on this 2-core machine
before anything else runs. The design measured here fits nothing per series:

- level: exponentially weighted mean of the series' recent non-promoted days, each divided by
  its product's day-of-week index (pooled over every store selling the product), skipping days
  with 8 or more stock-out hours between 06:00 and 22:00 (their sales are censored demand);
- promotion / holiday effect: one Poisson regression per third-level category on
  (activity_flag, discount depth = 1 − discount, holiday_flag), with the level × day-of-week
  as offset — shared by every series of the category;
- forecast = level × day-of-week index × exp(x·β).

It is compared, on a deterministic sample of series, with per-series Prophet (daily data,
weekly seasonality, the same three inputs as regressors, no uncertainty sampling), and with two
benchmarks (the same weekday last week; the mean of the last 7 days). Backtest: origins on each
of the last 14 days, horizons 1-7 days; WAPE on all days, activity days, other days, and on
days without a stock-out hour.

    .venv/bin/python benchmarks/forecast_freshretailnet.py [--sample 300] [--workers 2]

Reads ../shared/data/freshretailnet_50k/frn50k_train_daily.parquet directly (read-only).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecasting.metrics import wape  # noqa: E402
from forecasting.pooled import ewma_levels, level_before, poisson_regression  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "freshretailnet_50k" / "frn50k_train_daily.parquet"
ORIGINS = 14
HORIZON = 7
CENSORED_HOURS = 8
ALPHA = 0.15


def load() -> dict:
    started = time.perf_counter()
    frame = duckdb.sql(
        f"""select store_id, product_id, third_category_id, dt, sale_amount, stock_hour6_22_cnt,
                   discount, holiday_flag, activity_flag
            from read_parquet('{DATA}') order by store_id, product_id, dt"""
    ).df()
    days = np.sort(frame["dt"].unique())
    series = frame[["store_id", "product_id", "third_category_id"]].drop_duplicates().reset_index(drop=True)
    S, D = len(series), len(days)
    if len(frame) != S * D:
        raise ValueError(f"expected one row per series and day: {len(frame)} rows for {S} series × {D} days")

    def grid(column: str) -> np.ndarray:
        return frame[column].to_numpy(float).reshape(S, D)

    return {
        "series": series,
        "days": pd.to_datetime(days),
        "sales": grid("sale_amount"),
        "stockout_hours": grid("stock_hour6_22_cnt"),
        "depth": np.clip(1.0 - grid("discount"), 0.0, 1.0),
        "holiday": grid("holiday_flag"),
        "activity": grid("activity_flag"),
        "load_seconds": time.perf_counter() - started,
    }


def pooled_forecasts(data: dict, origin: int) -> np.ndarray:
    """(S, HORIZON) forecasts of every series from `origin`, using days ≤ origin only."""
    sales, activity = data["sales"], data["activity"]
    S, D = sales.shape
    product = data["series"]["product_id"].to_numpy()
    category = data["series"]["third_category_id"].to_numpy()
    weekday = np.asarray(data["days"].dayofweek)
    history = np.arange(D) <= origin
    censored = data["stockout_hours"] >= CENSORED_HOURS
    clean = history[None, :] & ~censored

    # Day-of-week index per product: mean clean sales on that weekday ÷ mean clean sales, all stores.
    codes, product_index = np.unique(product, return_inverse=True)
    dow = np.ones((len(codes), 7))
    for day in range(7):
        on_day = clean & (weekday == day)[None, :]
        day_sum = np.bincount(product_index, weights=np.where(on_day, sales, 0).sum(1), minlength=len(codes))
        day_n = np.bincount(product_index, weights=on_day.sum(1), minlength=len(codes))
        all_sum = np.bincount(product_index, weights=np.where(clean, sales, 0).sum(1), minlength=len(codes))
        all_n = np.bincount(product_index, weights=clean.sum(1), minlength=len(codes))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = (day_sum / day_n) / (all_sum / all_n)
        dow[:, day] = np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)
    season = dow[product_index][:, weekday]  # (S, D)

    # Level on deseasonalised, uncensored, non-promoted days up to the origin.
    adjusted = np.where(clean, sales / season, np.nan)
    levels = ewma_levels(adjusted, activity.astype(bool), ALPHA)
    before = level_before(levels)
    level = np.nan_to_num(levels[:, origin])

    # Promotion / holiday effect per third-level category on uncensored days with a level.
    x = np.stack([activity, data["depth"], data["holiday"]], axis=-1)
    trains = clean & (np.nan_to_num(before) > 0)
    beta = np.zeros((S, 3))
    for cat in np.unique(category):
        rows = np.where(category == cat)[0]
        r, c = np.nonzero(trains[rows])
        r = rows[r]
        b, _ = poisson_regression(x[r, c], np.maximum(sales[r, c], 0), np.log(before[r, c] * season[r, c]), ridge=1.0)
        beta[rows] = b
    targets = np.arange(origin + 1, origin + 1 + HORIZON)
    targets = targets[targets < D]
    effect = np.exp(np.einsum("sdp,sp->sd", x[:, targets], beta))
    out = np.full((S, HORIZON), np.nan)
    out[:, : targets.size] = level[:, None] * season[:, targets] * effect
    return out


def prophet_task(args: tuple) -> tuple[int, dict[int, np.ndarray], float]:
    """Per-series Prophet at each fit origin; its forecast serves the origins until the next fit."""
    for name in ("prophet", "cmdstanpy"):
        logging.getLogger(name).disabled = True
    warnings.filterwarnings("ignore")
    from prophet import Prophet

    row, days, sales, depth, activity, holiday, fit_origins = args
    fits, seconds = {}, 0.0
    for origin in fit_origins:
        started = time.perf_counter()
        model = Prophet(weekly_seasonality=True, yearly_seasonality=False, daily_seasonality=False,
                        uncertainty_samples=0)
        for regressor in ("depth", "activity", "holiday"):
            model.add_regressor(regressor, standardize=False)
        train = pd.DataFrame({"ds": days[: origin + 1], "y": sales[: origin + 1], "depth": depth[: origin + 1],
                              "activity": activity[: origin + 1], "holiday": holiday[: origin + 1]})
        model.fit(train, seed=1)
        future = pd.DataFrame({"ds": days, "depth": depth, "activity": activity, "holiday": holiday})
        fits[origin] = np.clip(model.predict(future)["yhat"].to_numpy(), 0, None)
        seconds += time.perf_counter() - started
    return row, fits, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--prophet-refit-days", type=int, default=7)
    args = parser.parse_args()

    data = load()
    sales = data["sales"]
    S, D = sales.shape
    origins = list(range(D - 1 - ORIGINS, D - 1))
    digest = [hashlib.sha256(f"{s}|{p}".encode()).hexdigest()
              for s, p in zip(data["series"]["store_id"], data["series"]["product_id"], strict=True)]
    sample = np.sort(np.argsort(digest)[: args.sample])

    started = time.perf_counter()
    pooled = {o: pooled_forecasts(data, o) for o in origins}
    pooled_seconds = (time.perf_counter() - started) / len(origins)

    fit_origins = origins[:: args.prophet_refit_days]
    tasks = [(s, data["days"], sales[s], data["depth"][s], data["activity"][s], data["holiday"][s], fit_origins)
             for s in sample]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        prophet = {row: (fits, seconds) for row, fits, seconds in pool.map(prophet_task, tasks, chunksize=10)}
    prophet_wall = time.perf_counter() - started
    fit_seconds = sum(seconds for _, seconds in prophet.values()) / (len(sample) * len(fit_origins))

    records = []
    for origin in origins:
        fit = max(o for o in fit_origins if o <= origin)
        mean7 = sales[:, origin - 6 : origin + 1].mean(axis=1)
        for h in range(1, HORIZON + 1):
            t = origin + h
            if t >= D:
                continue
            for s in sample:
                records.append((s, t, sales[s, t], data["activity"][s, t], data["stockout_hours"][s, t],
                                pooled[origin][s, h - 1], prophet[s][0][fit][t], sales[s, t - 7], mean7[s]))
    points = pd.DataFrame(records, columns=["series", "day", "actual", "activity", "stockout_hours", "pooled",
                                            "prophet_per_series", "same_weekday_last_week", "mean_last_7_days"])
    segments = {
        "all days": np.ones(len(points), bool),
        "activity days": points["activity"].to_numpy() == 1,
        "other days": points["activity"].to_numpy() == 0,
        "days without a stock-out hour": points["stockout_hours"].to_numpy() == 0,
    }
    methods = ["pooled", "prophet_per_series", "same_weekday_last_week", "mean_last_7_days"]
    print(f"series: {S:,} × {D} days; sample scored: {len(sample)}; origins {origins[0]}…{origins[-1]} "
          f"(days), horizons 1-{HORIZON}; Prophet refit every {args.prophet_refit_days} origins")
    print("| method | " + " | ".join(segments) + " |")
    print("|---|" + "---|" * len(segments))
    for method in methods:
        cells = [f"{wape(points.loc[m, 'actual'], points.loc[m, method]):.3f}" for m in segments.values()]
        print(f"| {method} | " + " | ".join(cells) + " |")
    print(f"load: {data['load_seconds']:.1f} s")
    print(f"pooled model, all {S:,} series, one origin: {pooled_seconds:.1f} s (single process)")
    print(f"per-series Prophet: {fit_seconds:.3f} s per fit+predict in a worker; {prophet_wall:.1f} s wall for "
          f"{len(sample) * len(fit_origins)} fits on {args.workers} workers → 50,000 series ≈ "
          f"{50000 * fit_seconds / args.workers / 60:.1f} min on {args.workers} workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
