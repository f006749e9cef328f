"""forecast_all: frames shaped like the forecast.* tables, flags, promotion uplift, the process pool."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from forecast_builders import FIRST_WEEK, PROMOTION_COLUMNS, demand_rows, frames, promotion_rows, week

import forecasting.demand as demand_module
from forecasting import POOLED, POOLED_WITH_PROPHET, ForecastConfig, forecast_all
from forecasting.tables import DEMAND_WEEKLY, PROMOTION_UPLIFT, SERIES_FIT_LOG

WEEKS = 60
ORIGIN = week(WEEKS - 1)
HISTORY_PROMO_WEEKS = [10, 11, 30, 45]


@pytest.fixture(scope="module")
def seven_series():
    """Five Prophet-sized series of one item (one with gaps), a 5-week series, a 1-week series."""
    rng = np.random.default_rng(11)
    promoted = np.isin(np.arange(WEEKS), HISTORY_PROMO_WEEKS)
    demand, plans = [], []
    for store in range(5):
        units = rng.poisson((15 + 5 * store) * np.where(promoted, 1.8, 1.0)).astype(float)
        if store == 4:
            units[np.arange(WEEKS) % 4 == 1] = np.nan  # every fourth week missing
        demand += demand_rows("001", f"S{store}", units, promoted, feature=1)
        plans += promotion_rows("P1", "001", f"S{store}", [week(k) for k in HISTORY_PROMO_WEEKS], feature=1)
        plans += promotion_rows("P2", "001", f"S{store}", [week(WEEKS + 1), week(WEEKS + 2)], feature=1)
    # 5 weeks of item 009 at S9 (units 10, 14, 30 promoted, 12, 16) and a promotion ahead.
    demand += demand_rows("009", "S9", [10, 14, 30, 12, 16], [False, False, True, False, False], start=week(55))
    plans += promotion_rows("P7", "009", "S9", [week(57), week(WEEKS + 1)])
    # A promotion past the 8-week horizon is not forecast, so not counted.
    plans += promotion_rows("P7", "009", "S9", [week(WEEKS + 11)])
    # One sold week only, 12 units, in the last week.
    demand += demand_rows("010", "S9", [12.0], start=ORIGIN)
    categories = pd.DataFrame({"item_id": ["001", "009", "010"], "category": ["C", "C", "C"]})
    return pd.DataFrame(demand), pd.DataFrame(plans, columns=PROMOTION_COLUMNS), categories


@pytest.fixture(scope="module")
def serial_result(seven_series):
    demand, plans, categories = seven_series
    return forecast_all(demand, plans, ForecastConfig(workers=1), item_categories=categories)


def test_frames_have_the_forecast_table_columns_and_types(serial_result):
    con = duckdb.connect()
    for frame, schema in [
        (serial_result.demand_weekly, DEMAND_WEEKLY),
        (serial_result.promotion_uplift, PROMOTION_UPLIFT),
        (serial_result.series_fit_log, SERIES_FIT_LOG),
    ]:
        con.register("frame", frame)
        described = con.execute("describe select * from frame").fetchall()
        assert [(name, sql_type) for name, sql_type, *_ in described] == list(schema.items())
        con.unregister("frame")
    con.register("weekly", serial_result.demand_weekly)
    horizon_nulls = con.execute("select count(*) from weekly where not is_history and actual_units is null")
    assert horizon_nulls.fetchall() == [(7 * 8,)]
    con.register("fit_log", serial_result.series_fit_log)
    assert con.execute("select count(*) from fit_log where status = 'fitted' and reason is null").fetchall() == [(5,)]


def test_one_row_per_series_week_from_the_first_sale(serial_result):
    weekly = serial_result.demand_weekly
    counts = weekly.groupby(["item_id", "location_id"]).size().to_dict()
    assert counts == {**{("001", f"S{s}"): WEEKS + 8 for s in range(5)}, ("009", "S9"): 5 + 8, ("010", "S9"): 1 + 8}
    assert not weekly.duplicated(["item_id", "location_id", "week_end_date"]).any()
    horizon = weekly[~weekly["is_history"]]
    assert set(horizon["week_end_date"]) == {week(WEEKS - 1 + k).date() for k in range(1, 9)}
    gappy = weekly[(weekly["location_id"] == "S4") & weekly["is_history"]]
    assert (gappy["actual_units"] == 0).sum() >= 15  # the 15 weeks without a row are zero-unit weeks


def test_fit_log_flags_the_short_series(serial_result):
    log = serial_result.series_fit_log.set_index(["item_id", "location_id"])
    assert (log.loc["001", "status"] == "fitted").all() and (log.loc["001", "method"] == POOLED_WITH_PROPHET).all()
    short = log.loc[("009", "S9")]
    assert (short["status"], short["method"]) == ("fallback", POOLED)
    assert short["reason"] == "history of 5 weeks is shorter than 26"
    assert (short["history_weeks"], short["promoted_weeks"], short["nonzero_weeks"]) == (5, 1, 5)
    # 009 has one promoted week of its own: fewer than 10, so its effect is the category's.
    assert short["promotion_effect_source"] == "category"
    assert (log.loc["001", "promotion_effect_source"] == "item").all()
    assert log.loc[("001", "S0"), "promoted_weeks"] == 4


def test_single_observation_forecasts_its_one_week(serial_result):
    # One week of 12 units: the level is 12 for the whole horizon (no promotion planned).
    weekly = serial_result.demand_weekly
    one = weekly[weekly["item_id"] == "010"]
    np.testing.assert_allclose(one["baseline_units"], 12.0)
    np.testing.assert_allclose(one["predicted_units"], 12.0)
    log = serial_result.series_fit_log.set_index("item_id").loc["010"]
    assert log["reason"] == "history of 1 weeks is shorter than 26"


def test_promotion_uplift_sums_the_weekly_forecast(serial_result):
    weekly = serial_result.demand_weekly
    uplift = serial_result.promotion_uplift.set_index(["promotion_id", "item_id", "location_id"])
    planned_weeks = {week(WEEKS + 1).date(), week(WEEKS + 2).date()}
    for store in range(5):
        rows = weekly[(weekly["location_id"] == f"S{store}") & weekly["week_end_date"].isin(planned_weeks)]
        row = uplift.loc[("P2", "001", f"S{store}")]
        assert row["uplift_units"] == pytest.approx((rows["predicted_units"] - rows["baseline_units"]).sum())
        assert row["uplift_lower"] == pytest.approx(rows["uplift_lower_units"].sum())
        assert row["promo_weeks"] == 2
        # Truth is +80% for 30% off with a feature; the planned weeks must show a clear lift.
        assert row["uplift_pct"] > 0.4
        assert row["uplift_lower"] <= row["uplift_units"] * (1 + 1e-9) or row["uplift_lower"] < 0
    # P7 covers one history week (week 57) and one horizon week; the week past the horizon is not counted.
    p7 = uplift.loc[("P7", "009", "S9")]
    assert p7["promo_weeks"] == 2
    assert p7["start_date"] == (week(57) - pd.Timedelta(days=6)).date()
    assert p7["end_date"] == week(WEEKS + 1).date()


def test_non_promoted_horizon_weeks_are_the_baseline(serial_result):
    weekly = serial_result.demand_weekly
    plain = weekly[~weekly["is_history"] & ~weekly["is_promoted"]]
    np.testing.assert_allclose(plain["predicted_units"], plain["baseline_units"])
    np.testing.assert_allclose(plain["uplift_lower_units"], 0.0)


def test_process_pool_gives_the_same_numbers(seven_series, serial_result):
    demand, plans, categories = seven_series
    pooled = forecast_all(demand, plans, ForecastConfig(workers=2, batch_size=2), item_categories=categories)
    pd.testing.assert_frame_equal(pooled.demand_weekly, serial_result.demand_weekly)
    pd.testing.assert_frame_equal(pooled.promotion_uplift, serial_result.promotion_uplift)
    pd.testing.assert_frame_equal(
        pooled.series_fit_log.drop(columns="fit_seconds"), serial_result.series_fit_log.drop(columns="fit_seconds")
    )


def test_same_input_in_another_order_same_numbers(seven_series, serial_result):
    demand, plans, categories = seven_series
    again = forecast_all(
        demand.sample(frac=1.0, random_state=3), plans.sample(frac=1.0, random_state=4), ForecastConfig(workers=1),
        item_categories=categories,
    )
    pd.testing.assert_frame_equal(again.demand_weekly, serial_result.demand_weekly)
    pd.testing.assert_frame_equal(again.promotion_uplift, serial_result.promotion_uplift)


def test_all_zero_negative_and_priceless_series_never_stop_the_run():
    rng = np.random.default_rng(5)
    returns = rng.poisson(3, 60).astype(float)
    returns[[7, 19, 33]] = [-4, -6, -3]  # net returns
    demand = demand_rows("Z", "S1", np.zeros(40)) + demand_rows("R", "S1", returns)
    promoted = np.isin(np.arange(60), [20, 40])
    demand += demand_rows("N", "S1", rng.poisson(30 * np.where(promoted, 2, 1)).astype(float), promoted)
    # N's promotions have no usable price: discount depth NULL in the promotion record.
    plans = promotion_rows("PN", "N", "S1", [week(20), week(40), week(61)], depth=None, display=1)
    result = forecast_all(*frames(demand, plans), ForecastConfig(workers=1))
    log = result.series_fit_log.set_index("item_id")
    assert log.loc["Z", "reason"] == "all weeks have zero units" and log.loc["Z", "status"] == "fallback"
    weekly = result.demand_weekly.set_index("item_id")
    np.testing.assert_array_equal(weekly.loc["Z", "predicted_units"], 0.0)
    assert (weekly[["predicted_units", "baseline_units", "predicted_lower"]] >= 0).all().all()
    assert log.loc["R", "status"] == "fitted"
    n_horizon = weekly.loc["N"][~weekly.loc["N", "is_history"]]
    promoted_week = n_horizon[n_horizon["is_promoted"]]
    assert len(promoted_week) == 1 and (promoted_week["predicted_units"] > promoted_week["baseline_units"]).all()


def test_a_failing_prophet_fit_falls_back_to_the_pooled_model(monkeypatch, seven_series):
    def broken(*args, **kwargs):
        raise RuntimeError("optimizer diverged")

    monkeypatch.setattr(demand_module, "_prophet_predict", broken)
    demand, plans, categories = seven_series
    result = forecast_all(demand, plans, ForecastConfig(workers=1), item_categories=categories)
    log = result.series_fit_log
    assert (log["status"] == "fallback").all() and (log["method"] == POOLED).all()
    assert (log.loc[log["item_id"] == "001", "reason"] == "prophet fit failed: RuntimeError: optimizer diverged").all()
    weekly = result.demand_weekly
    assert weekly["predicted_units"].notna().all()


def test_empty_demand_gives_empty_frames():
    demand = pd.DataFrame(
        columns=["item_id", "location_id", "week_end_date", "units", "discount_depth", "feature", "display",
                 "is_promoted"]
    )
    result = forecast_all(demand, pd.DataFrame(columns=PROMOTION_COLUMNS), ForecastConfig(workers=1))
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
    demand = pd.DataFrame(demand_rows("I", "S", [1, 2, 3, 4, 5], start=FIRST_WEEK))
    with pytest.raises(ValueError, match=message):
        forecast_all(change(demand), pd.DataFrame(columns=PROMOTION_COLUMNS), ForecastConfig(workers=1))
