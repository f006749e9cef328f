"""Backtest accuracy of the demand model against the simple benchmarks, on Breakfast at the Frat.

Reads intermediate.int_demand_weekly, int_promotion_weeks and staging.stg_erp__items from the
warehouse built by `make run-real` (read-only; default warehouse/batf.duckdb) and runs the same
rolling-origin backtest as the forecast/backtest_metrics asset: origins over the last 26 weeks,
horizons 1-4, WAPE / bias / MASE for promoted and non-promoted weeks. Prints a Markdown table,
the issue's targets and the wall times.

    .venv/bin/python benchmarks/forecast_accuracy.py [--warehouse FILE] [--sample N] [--workers 2]
        [--end-week YYYY-MM-DD] [--prophet-weight W] [--level-alpha A] [--json OUT]
        [--min-history-weeks N] [--min-nonzero-weeks N] [--origins N]

--sample N scores a deterministic sample (the first N series in sha256(item|location) order);
promotion effects are still learnt from every series. --end-week ends the test earlier (the
weeks after it are dropped), to check the settings on a window they were not chosen on.
--warehouse warehouse/freshretailnet.duckdb with --min-history-weeks 6 --origins 6 fits Prophet on
FreshRetailNet's 13-week series, which the pipeline forecasts with the pooled model alone: the
`prophet_only` and `pooled_lift_only` rows then give the accuracy the pooled design costs (or
saves) against per-series fits on the sample.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecasting import ForecastConfig, run_backtest  # noqa: E402
from forecasting.backtest import accuracy_summary, accuracy_table, markdown_table  # noqa: E402


def read_inputs(warehouse: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        demand = con.execute("select * from intermediate.int_demand_weekly").df()
        promotion_weeks = con.execute("select * from intermediate.int_promotion_weeks").df()
        categories = con.execute("select item_id, category from staging.stg_erp__items").df()
    return demand, promotion_weeks, categories


def deterministic_sample(demand: pd.DataFrame, size: int) -> pd.DataFrame:
    """The first `size` series in sha256("item|location") order: stable across runs and machines."""
    keys = demand[["item_id", "location_id"]].drop_duplicates()
    pairs = zip(keys["item_id"], keys["location_id"], strict=True)
    digest = [hashlib.sha256(f"{item}|{location}".encode()).hexdigest() for item, location in pairs]
    return keys.assign(digest=digest).sort_values("digest").head(size)[["item_id", "location_id"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", default=str(ROOT / "warehouse" / "batf.duckdb"))
    parser.add_argument("--sample", type=int, default=0, help="score N series (0 = all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--end-week", help="drop weeks after this date (an earlier test window)")
    parser.add_argument("--prophet-weight", type=float)
    parser.add_argument("--level-alpha", type=float)
    parser.add_argument("--refit-weeks", type=int)
    parser.add_argument("--min-history-weeks", type=int,
                        help="Prophet's history gate (default 26): lower it to fit Prophet on short series")
    parser.add_argument("--min-nonzero-weeks", type=int, help="Prophet's non-zero-weeks gate (default 13)")
    parser.add_argument("--origins", type=int, help="backtest origins (default 26: the last 26 weeks)")
    parser.add_argument("--json", help="write the summary, timings and table here")
    args = parser.parse_args()

    started = time.perf_counter()
    demand, promotion_weeks, categories = read_inputs(Path(args.warehouse))
    if args.end_week:
        end = pd.Timestamp(args.end_week)
        demand = demand[pd.to_datetime(demand["week_end_date"]) <= end].reset_index(drop=True)
    overrides = {
        name: value
        for name, value in (
            ("prophet_weight", args.prophet_weight),
            ("level_alpha", args.level_alpha),
            ("backtest_prophet_refit_weeks", args.refit_weeks),
            ("min_history_weeks", args.min_history_weeks),
            ("min_nonzero_weeks", args.min_nonzero_weeks),
            ("backtest_origins", args.origins),
        )
        if value is not None
    }
    config = ForecastConfig(workers=args.workers, **overrides)
    scored = deterministic_sample(demand, args.sample) if args.sample else None
    read_seconds = time.perf_counter() - started
    result = run_backtest(demand, promotion_weeks, config, item_categories=categories, scored_series=scored)
    table = accuracy_table(result.metrics)
    summary = accuracy_summary(result.metrics, config)
    series = len(scored) if scored is not None else demand[["item_id", "location_id"]].drop_duplicates().shape[0]

    print(f"series scored: {series}; origins {result.origin_dates[0].date()} … {result.origin_dates[-1].date()}; "
          f"Prophet fits at {', '.join(str(d.date()) for d in result.prophet_fit_dates)}")
    print(f"settings: {overrides or 'defaults'}; workers {args.workers}")
    print(markdown_table(table))
    for key, value in summary.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    timings = {"read_seconds": read_seconds, **result.timings}
    for key, value in timings.items():
        print(f"{key}: {value:.1f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"series": series, "settings": overrides, "summary": summary, "timings": timings,
                        "table": table.reset_index().to_dict(orient="records")}, indent=2, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
