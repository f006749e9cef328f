"""The project's forecasting step vs a plain sequential loop of default Prophet, side by side.

Both forecast the same Breakfast at the Frat series (from the warehouse `make run-real` built,
read-only) 8 weeks ahead:

- project: `forecasting.forecast_all` with --workers processes (pooled level × promotion lift,
  one Prophet fit per series without uncertainty sampling, the forecast.* frames);
- plain: for each series in turn, `Prophet().fit(history).predict(history + 8 weeks)` with
  every default (1,000 uncertainty samples, automatic seasonalities), no regressors.

    .venv/bin/python benchmarks/forecast_speed.py [--warehouse FILE] [--sample N] [--workers 2]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.forecast_accuracy import deterministic_sample, read_inputs  # noqa: E402
from forecasting import ForecastConfig, forecast_all  # noqa: E402


def plain_prophet_loop(demand: pd.DataFrame, horizon_weeks: int = 8) -> tuple[float, int]:
    """Seconds for default Prophet().fit().predict() over every series, one after another, and how
    many series default Prophet refused (fewer than 2 weeks with a value): their time counts too."""
    for name in ("prophet", "cmdstanpy"):
        logging.getLogger(name).disabled = True
    warnings.filterwarnings("ignore")
    from prophet import Prophet

    refused = 0
    started = time.perf_counter()
    for _, rows in demand.groupby(["item_id", "location_id"], sort=True):
        history = pd.DataFrame({"ds": pd.to_datetime(rows["week_end_date"]), "y": rows["units"].astype(float)})
        try:
            model = Prophet().fit(history)
        except ValueError:  # "Dataframe has less than 2 non-NaN rows."
            refused += 1
            continue
        future = model.make_future_dataframe(periods=horizon_weeks, freq="7D")
        model.predict(future)
    return time.perf_counter() - started, refused


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", default=str(ROOT / "warehouse" / "batf.duckdb"))
    parser.add_argument("--sample", type=int, default=0, help="forecast N series (0 = all)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    demand, promotion_weeks, categories = read_inputs(Path(args.warehouse))
    if args.sample:
        keep = deterministic_sample(demand, args.sample)
        demand = demand.merge(keep, on=["item_id", "location_id"])
        promotion_weeks = promotion_weeks.merge(keep, on=["item_id", "location_id"])
    series = demand[["item_id", "location_id"]].drop_duplicates().shape[0]

    started = time.perf_counter()
    result = forecast_all(demand, promotion_weeks, ForecastConfig(workers=args.workers), item_categories=categories)
    project_seconds = time.perf_counter() - started
    fitted = int((result.series_fit_log["status"] == "fitted").sum())
    print(f"project step: {project_seconds:.1f} s", flush=True)
    plain_seconds, refused = plain_prophet_loop(demand)

    print(f"series: {series} ({fitted} with a Prophet fit in the project's step; "
          f"{refused} refused by default Prophet: fewer than 2 weeks with a value)")
    print("| run | wall s | series / s |")
    print("|---|---|---|")
    print(f"| project step, {args.workers} workers | {project_seconds:.1f} | {series / project_seconds:.1f} |")
    print(f"| plain sequential default Prophet | {plain_seconds:.1f} | {series / plain_seconds:.1f} |")
    print(f"ratio (plain ÷ project wall time): {plain_seconds / project_seconds:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
