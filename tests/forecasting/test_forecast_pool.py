"""forecast_all: frames shaped like the forecast.* tables, promotion uplift, the process pool."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from forecasting import ForecastConfig, forecast_all
from forecasting.tables import DEMAND_WEEKLY, PROMOTION_UPLIFT, RESIDUAL_SIGMA, SERIES_FIT_LOG

FIRST_WEEK = pd.Timestamp("2022-01-05")  # a Wednesday
WEEKS = 60
ORIGIN = FIRST_WEEK + pd.Timedelta(weeks=WEEKS - 1)


def demand_rows(item_id, location_id, units, promoted, start=FIRST_WEEK, promotion_id="P1") -> list[dict]:
    """int_demand_weekly rows (promoted weeks at 30% off with a feature) for weeks that sold."""
    rows = []
    for k, (u, p) in enumerate(zip(units, promoted, strict=True)):
        if np.isnan(u):
            continue  # no row: the week did not sell
        rows.append(
            {
                "item_id": item_id,
                "location_id": location_id,
                "week_end_date": (start + pd.Timedelta(weeks=k)).date(),
                "units": float(u),
                "net_sales": float(u) * 2.0,
                "regular_price_sales": float(u) * 2.5,
                "discount_depth": 0.3 if p else 0.0,
                "feature": int(p),
                "display": 0,
                "is_promoted": bool(p),
                "promotion_id": promotion_id if p else None,
            }
        )
    return rows


def promotion_rows(promotion_id, item_id, location_id, weeks, depth=0.3, feature=1) -> list[dict]:
    return [
        {
            "promotion_id": promotion_id,
            "item_id": item_id,
            "location_id": location_id,
            "week_end_date": w.date(),
            "discount_depth": depth,
            "feature": feature,
            "display": 0,
        }
        for w in weeks
    ]


@pytest.fixture(scope="module")
def six_series():
    """Five Prophet-sized series (one with gaps) and one 5-week series for the fallback."""
    rng = np.random.default_rng(11)
    history_promo_weeks = [10, 11, 30, 45]
    promoted = np.isin(np.arange(WEEKS), history_promo_weeks)
    demand, plans = [], []
    for s in range(5):
        units = rng.poisson((15 + 5 * s) * np.where(promoted, 1.8, 1.0)).astype(float)
        if s == 4:
            units[np.arange(WEEKS) % 4 == 1] = np.nan  # every fourth week missing
        item = f"00{s}"  # leading zeros must survive
        demand += demand_rows(item, "S1", units, promoted)
        plans += promotion_rows("P1", item, "S1", [FIRST_WEEK + pd.Timedelta(weeks=k) for k in history_promo_weeks])
        plans += promotion_rows("P2", item, "S1", [ORIGIN + pd.Timedelta(weeks=2), ORIGIN + pd.Timedelta(weeks=3)])
    # Fallback series: units 10, 14, 30 (promoted), 12, 16 in the last five weeks.
    short_start = ORIGIN - pd.Timedelta(weeks=4)
    short_promoted = [False, False, True, False, False]
    demand += demand_rows("009", "S2", [10, 14, 30, 12, 16], short_promoted, start=short_start, promotion_id="P7")
    plans += promotion_rows("P7", "009", "S2", [short_start + pd.Timedelta(weeks=2), ORIGIN + pd.Timedelta(weeks=2)])
    # A week past the 8-week horizon is not forecast, so it is not counted.
    plans += promotion_rows("P7", "009", "S2", [ORIGIN + pd.Timedelta(weeks=12)])
    return pd.DataFrame(demand), pd.DataFrame(plans)


@pytest.fixture(scope="module")
def serial_result(six_series):
    demand, plans = six_series
    return forecast_all(demand, plans, ForecastConfig(workers=1))


def test_frames_have_the_forecast_table_columns_and_types(serial_result):
    con = duckdb.connect()
    for frame, schema in [
        (serial_result.demand_weekly, DEMAND_WEEKLY),
        (serial_result.promotion_uplift, PROMOTION_UPLIFT),
        (serial_result.series_fit_log, SERIES_FIT_LOG),
        (serial_result.residual_sigma, RESIDUAL_SIGMA),
    ]:
        con.register("frame", frame)
        described = con.execute("describe select * from frame").fetchall()
        assert [(name, sql_type) for name, sql_type, *_ in described] == list(schema.items())
        con.unregister("frame")
    # NULLs arrive as NULL, not NaN: horizon actuals and the reason of fitted series.
    con.register("weekly", serial_result.demand_weekly)
    horizon_nulls = con.execute("select count(*) from weekly where not is_history and actual_units is null")
    assert horizon_nulls.fetchall() == [(6 * 8,)]
    con.register("fit_log", serial_result.series_fit_log)
    fitted_nulls = con.execute("select count(*) from fit_log where status = 'fitted' and reason is null")
    assert fitted_nulls.fetchall() == [(5,)]


def test_one_row_per_series_week(serial_result):
    weekly = serial_result.demand_weekly
    counts = weekly.groupby(["item_id", "location_id"]).size()
    # Five 60-week series and one 5-week series, each with 8 horizon weeks.
    assert counts.to_dict() == {
        ("000", "S1"): 68,
        ("001", "S1"): 68,
        ("002", "S1"): 68,
        ("003", "S1"): 68,
        ("004", "S1"): 68,
        ("009", "S2"): 13,
    }
    assert not weekly.duplicated(["item_id", "location_id", "week_end_date"]).any()
    horizon = weekly[~weekly["is_history"]]
    assert set(horizon["week_end_date"]) == {(ORIGIN + pd.Timedelta(weeks=k)).date() for k in range(1, 9)}
    # The gappy series: 15 of 60 weeks had no row, so they are zero-unit history weeks.
    gappy = weekly[(weekly["item_id"] == "004") & weekly["is_history"]]
    assert (gappy["actual_units"] == 0).sum() >= 15


def test_fit_log_flags_the_short_series(serial_result):
    log = serial_result.series_fit_log.set_index("item_id")
    assert list(log["status"]) == ["fitted"] * 5 + ["fallback"]
    assert log.loc["009", "method"] == "fallback_mean"
    assert log.loc["009", "reason"] == "history of 5 weeks is shorter than 26"
    assert log.loc["009", "history_weeks"] == 5
    assert log.loc["000", "promoted_weeks"] == 4
    assert log.loc["004", "nonzero_weeks"] <= 45


def test_promotion_uplift_of_the_fallback_series_by_hand(serial_result):
    uplift = serial_result.promotion_uplift
    row = uplift[uplift["promotion_id"] == "P7"].iloc[0]
    # Fallback: baseline 13, a promoted week 30 (see test_forecast_demand). P7 covers one
    # history and one horizon week (the week past the horizon is not forecast):
    # predicted 30 + 30 = 60, baseline 13 + 13 = 26, uplift 34, 34 / 26 = 1.3077.
    # Interval half-width 1.28155 × 2.5820 = 3.3090 per week: lower 2 × (30 − 3.309 − 13) =
    # 27.382, upper 2 × (30 + 3.309 − 13) = 40.618.
    assert row["promo_weeks"] == 2
    assert row["predicted_units"] == pytest.approx(60)
    assert row["baseline_units"] == pytest.approx(26)
    assert row["uplift_units"] == pytest.approx(34)
    assert row["uplift_pct"] == pytest.approx(34 / 26)
    assert row["uplift_lower"] == pytest.approx(27.382, abs=1e-3)
    assert row["uplift_upper"] == pytest.approx(40.618, abs=1e-3)
    assert row["start_date"] == (ORIGIN - pd.Timedelta(weeks=2, days=6)).date()
    assert row["end_date"] == (ORIGIN + pd.Timedelta(weeks=2)).date()
    assert row["method"] == "fallback_mean"


def test_promotion_uplift_sums_the_weekly_forecast(serial_result):
    # Independent recomputation: P2 covers horizon weeks 2 and 3 of every Prophet series.
    weekly = serial_result.demand_weekly
    weeks = {(ORIGIN + pd.Timedelta(weeks=k)).date() for k in (2, 3)}
    uplift = serial_result.promotion_uplift.set_index(["promotion_id", "item_id"])
    for item in ["000", "001", "002", "003", "004"]:
        rows = weekly[(weekly["item_id"] == item) & weekly["week_end_date"].isin(weeks)]
        expected = (rows["predicted_units"] - rows["baseline_units"]).sum()
        assert uplift.loc[("P2", item), "uplift_units"] == pytest.approx(expected)
        assert uplift.loc[("P2", item), "promo_weeks"] == 2
        # Truth is +80% for 30% off with a feature; the planned weeks must show a clear lift.
        assert uplift.loc[("P2", item), "uplift_pct"] > 0.3


def test_process_pool_gives_the_same_numbers(six_series, serial_result):
    demand, plans = six_series
    # batch_size 2 → three batches over two spawned workers.
    pooled = forecast_all(demand, plans, ForecastConfig(workers=2, batch_size=2))
    pd.testing.assert_frame_equal(pooled.demand_weekly, serial_result.demand_weekly)
    pd.testing.assert_frame_equal(pooled.promotion_uplift, serial_result.promotion_uplift)
    pd.testing.assert_frame_equal(pooled.residual_sigma, serial_result.residual_sigma)
    pd.testing.assert_frame_equal(
        pooled.series_fit_log.drop(columns="fit_seconds"), serial_result.series_fit_log.drop(columns="fit_seconds")
    )


def test_same_input_same_numbers(six_series, serial_result):
    demand, plans = six_series
    again = forecast_all(demand.sample(frac=1.0, random_state=3), plans, ForecastConfig(workers=1))
    pd.testing.assert_frame_equal(again.demand_weekly, serial_result.demand_weekly)
    pd.testing.assert_frame_equal(again.promotion_uplift, serial_result.promotion_uplift)


def test_empty_demand_gives_empty_frames():
    demand = pd.DataFrame(
        columns=[
            "item_id",
            "location_id",
            "week_end_date",
            "units",
            "discount_depth",
            "feature",
            "display",
            "is_promoted",
        ]
    )
    plans = pd.DataFrame(
        columns=["promotion_id", "item_id", "location_id", "week_end_date", "discount_depth", "feature", "display"]
    )
    result = forecast_all(demand, plans, ForecastConfig(workers=1))
    assert result.demand_weekly.empty and list(result.demand_weekly.columns) == list(DEMAND_WEEKLY)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(columns="discount_depth"), r"int_demand_weekly lacks columns \['discount_depth'\]"),
        (lambda d: d.assign(units=[None] + [1.0] * (len(d) - 1)), "int_demand_weekly row 0: column units is NULL"),
        (
            lambda d: pd.concat([d, d.iloc[[3]]], ignore_index=True),
            r"int_demand_weekly row 5: item_id 'I'.*more than once",
        ),
        (lambda d: d.assign(units=["x"] + [1.0] * (len(d) - 1)), "row 0: column units is 'x', expected a number"),
        (
            lambda d: d.assign(week_end_date=[pd.Timestamp("2022-01-06")] + list(d["week_end_date"].iloc[1:])),
            "int_demand_weekly row 0: week_end_date 2022-01-06 does not end a week",
        ),
    ],
)
def test_bad_input_names_row_and_column(change, message):
    demand = pd.DataFrame(demand_rows("I", "S", [1, 2, 3, 4, 5], [False] * 5))
    plans = pd.DataFrame(
        promotion_rows("P", "I", "S", []),
        columns=["promotion_id", "item_id", "location_id", "week_end_date", "discount_depth", "feature", "display"],
    )
    with pytest.raises(ValueError, match=message):
        forecast_all(change(demand), plans, ForecastConfig(workers=1))
