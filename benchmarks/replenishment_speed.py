"""Replenishment targets: the vectorised table-level step against the per-series loop it replaced, side by side.

Input: by default a generated one shaped like FreshRetailNet-50K as the pipeline lands it —
50,000 item × location series (865 products × 898 stores), 13 weekly history weeks ending on
Wednesdays (2024-04-03 … 2024-06-26, the last one partial) and 8 forecast weeks, the latest
snapshot on Tuesday 2024-06-25, lead time 1 day (sd 0.5), pack and MOQ 1, and the backtest the
weekly panel gives 13 weeks of history: 12 origins × up to 4 weeks ahead (42 points a series).
With `--warehouse PATH` (e.g. warehouse/freshretailnet.duckdb after `make run-freshretailnet`)
it reads the asset's inputs from that warehouse instead, opened read-only.

Both implementations run in this one process on the same frames; the vectorised step is timed
`--repeat` times (best and median reported), the reference loop once, and the two outputs must
agree (same rows, values to 1e-9). The load average is printed before and after.

    .venv/bin/python benchmarks/replenishment_speed.py [--series 50000] [--repeat 3] [--warehouse PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "forecasting"))  # the reference loop lives with the tests

from replenishment_reference import reference_replenishment_targets  # noqa: E402

from forecasting.replenishment import replenishment_targets  # noqa: E402
from forecasting.tables import DEMAND_WEEKLY  # noqa: E402

PRODUCTS, STORES = 865, 898
FIRST_WEEK_END = np.datetime64("2024-04-03")  # Wednesday (week_end_dow 3) of 2024-03-28
HISTORY_WEEKS, HORIZON_WEEKS = 13, 8
BACKTEST_ORIGINS, BACKTEST_HORIZON = 12, 4
AS_OF = date(2024, 6, 25)  # the latest snapshot: a day before the last (partial) history week ends
MODEL = "demand_model"


def generated_inputs(n_series: int, seed: int = 50_000) -> dict:
    """FreshRetailNet-shaped asset inputs (see the module docstring), built with array code."""
    rng = np.random.default_rng(seed)
    pairs = np.sort(rng.choice(PRODUCTS * STORES, n_series, replace=False))
    product, store = pairs // STORES, pairs % STORES
    item_ids = np.array([f"{p}" for p in range(PRODUCTS)], dtype=object)
    store_ids = np.array([f"{s}" for s in range(STORES)], dtype=object)
    level = rng.gamma(1.5, 8.0, n_series)  # weekly units; fractional, sold by weight
    level[rng.random(n_series) < 0.03] = 0.0

    weeks = HISTORY_WEEKS + HORIZON_WEEKS
    series = np.repeat(np.arange(n_series), weeks)
    week = np.tile(np.arange(weeks), n_series)
    promoted = rng.random(n_series * weeks) < 0.3
    baseline = np.round(level[series] * rng.uniform(0.8, 1.2, len(series)), 1)
    predicted = np.where(promoted, np.round(baseline * 1.4, 1), baseline)
    history = week < HISTORY_WEEKS
    forecast = pd.DataFrame(
        {
            "item_id": item_ids[product[series]],
            "location_id": store_ids[store[series]],
            "week_end_date": FIRST_WEEK_END + 7 * week.astype("timedelta64[D]"),
            "is_history": history,
            "actual_units": np.where(history, np.round(predicted * rng.uniform(0.6, 1.4, len(series)), 1), np.nan),
            "predicted_units": predicted,
            "baseline_units": baseline,
            "predicted_lower": predicted * 0.7,
            "predicted_upper": predicted * 1.3,
            "method": np.where(level[series] > 0, "pooled_lift", "no_sales"),
            "model_version": "frn-shaped-bench",
            "is_promoted": promoted,
            "uplift_lower_units": predicted - baseline,
            "uplift_upper_units": predicted - baseline,
        },
        columns=list(DEMAND_WEEKLY),
    ).astype({"week_end_date": "datetime64[us]"})

    # Origins 0 … 11 of the 13 history weeks; weeks past the last history week are not scored.
    origin = np.arange(BACKTEST_ORIGINS)[:, None]
    horizon = np.arange(1, BACKTEST_HORIZON + 1)[None, :]
    scored = origin + horizon <= HISTORY_WEEKS - 1
    origin, horizon = np.broadcast_to(origin, scored.shape)[scored], np.broadcast_to(horizon, scored.shape)[scored]
    per_series = len(origin)
    p_series = np.repeat(np.arange(n_series), per_series)
    p_origin, p_horizon = np.tile(origin, n_series), np.tile(horizon, n_series)
    actual = np.round(level[p_series] * rng.uniform(0.5, 1.5, len(p_series)), 1)
    points = pd.DataFrame(
        {
            "item_id": item_ids[product[p_series]],
            "location_id": store_ids[store[p_series]],
            "origin_date": FIRST_WEEK_END + 7 * p_origin.astype("timedelta64[D]"),
            "horizon_weeks": p_horizon.astype(np.int32),
            "week_end_date": FIRST_WEEK_END + 7 * (p_origin + p_horizon).astype("timedelta64[D]"),
            "is_promoted": rng.random(len(p_series)) < 0.3,
            "method": MODEL,
            "actual_units": actual,
            "predicted_units": np.maximum(np.round(actual + rng.normal(0, 0.35 * level[p_series] + 0.5), 1), 0.0),
        }
    ).astype({"origin_date": "datetime64[us]", "week_end_date": "datetime64[us]"})

    items = pd.DataFrame(
        {"item_id": item_ids, "lead_time_days": 1, "lead_time_std_days": 0.5, "pack_size": 1, "moq": 1}
    )
    position = pd.DataFrame(
        {
            "item_id": item_ids[product],
            "location_id": store_ids[store],
            "inventory_position_units": np.round(level / 7 * 4 + rng.normal(0, 2, n_series), 1),
        }
    )
    return {"weekly_forecast": forecast, "items": items, "inventory_position": position,
            "backtest_points": points, "as_of_date": AS_OF}


def warehouse_inputs(path: Path) -> dict:
    """The replenishment asset's own reads (orchestration/forecasting.py), from a warehouse opened read-only."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        as_of_date = con.execute("select max(snapshot_date) from staging.stg_inventory__snapshots").fetchone()[0]
        return {
            "weekly_forecast": con.execute("select * from forecast.demand_weekly").df(),
            "backtest_points": con.execute("select * from forecast.backtest_points where method = ?", [MODEL]).df(),
            "items": con.execute(
                "select item_id, lead_time_days, lead_time_std_days, pack_size, moq from staging.stg_erp__items"
            ).df(),
            "inventory_position": con.execute(
                """select item_id, location_id,
                          on_hand_units + coalesce(in_transit_units, 0) + coalesce(on_order_units, 0)
                              as inventory_position_units
                   from staging.stg_inventory__snapshots where snapshot_date = ?""",
                [as_of_date],
            ).df(),
            "as_of_date": as_of_date,
        }


def _load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warehouse", type=Path, default=None,
                        help="read the asset's inputs from this warehouse (read-only) instead of generating them")
    args = parser.parse_args()

    started = time.perf_counter()
    if args.warehouse is not None:
        if not args.warehouse.exists():
            print(f"{args.warehouse} not found", file=sys.stderr)
            return 2
        inputs, source = warehouse_inputs(args.warehouse), f"warehouse {args.warehouse}"
    else:
        inputs, source = generated_inputs(args.series), f"generated, FreshRetailNet-shaped, {args.series:,} series"
    print(f"input: {source}; {len(inputs['weekly_forecast']):,} forecast rows, "
          f"{len(inputs['backtest_points']):,} backtest points ({time.perf_counter() - started:.1f} s to build)")
    print(f"load average (1/5/15 min) before: {_load()}")

    vectorised_times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        vectorised = replenishment_targets(**inputs)
        vectorised_times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    reference = reference_replenishment_targets(**inputs)
    reference_time = time.perf_counter() - t0
    print(f"load average (1/5/15 min) after: {_load()}")

    pd.testing.assert_frame_equal(vectorised, reference, check_exact=False, rtol=1e-9, atol=1e-9)
    best, median = min(vectorised_times), statistics.median(vectorised_times)
    print(f"rows: {len(vectorised):,} (outputs equal to 1e-9)")
    print(f"vectorised: best {best:.2f} s, median {median:.2f} s of {args.repeat}")
    print(f"reference loop: {reference_time:.1f} s")
    print(f"speed-up: {reference_time / median:.0f}x (median), {reference_time / best:.0f}x (best)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
