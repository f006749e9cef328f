"""The marts recomputed with pandas straight from the landing files, independently of the SQL.

Only the forecast step's outputs (forecast.demand_weekly, forecast.replenishment_targets) are
read from the warehouse: they are inputs of the marts, not something the marts compute. The
definitions follow docs/marts.md; the code deliberately takes other routes than the models
(explicit week grids instead of window frames, merges instead of correlated subqueries).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

WEEK_END_DOW = 3  # ISO weekday closing a retail week (dbt var week_end_dow)
TRAILING_WEEKS = 4
REVIEW_PERIOD_DAYS = 7
COVER_FORECAST_WEEKS = 4
POST_PROMOTION_WEEKS = 2
ID_COLUMNS = ("item_id", "location_id", "promotion_id", "supplier_id", "serving_dc_id")
DAY = pd.Timedelta(days=1)


def read_entity(landing: Path, entity_path: str) -> pd.DataFrame:
    """Every extract of an entity, with its extract date and the row's position."""
    frames = []
    for file in sorted((landing / entity_path).glob("*/*.csv")):
        frame = pd.read_csv(file, dtype={c: str for c in ID_COLUMNS}, keep_default_na=True)
        frame["_extract_date"] = file.parent.name
        frame["_file"] = file.name
        frame["_row"] = np.arange(len(frame))
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    for column in ID_COLUMNS:
        if column in frame:
            frame[column] = frame[column].str.strip()
    return frame


def latest(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """The row of each key from the latest extract (then the last file and row): staging's rule."""
    ordered = frame.sort_values(["_extract_date", "_file", "_row"], kind="stable")
    return ordered.drop_duplicates(key, keep="last").reset_index(drop=True)


def week_end(dates: pd.Series) -> pd.Series:
    """Last day of the retail week containing each date."""
    dates = pd.to_datetime(dates)
    iso_weekday = dates.dt.dayofweek + 1
    return dates + pd.to_timedelta((WEEK_END_DOW - iso_weekday) % 7, unit="D")


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator ÷ denominator; NaN where the denominator is missing or ≤ 0."""
    denominator = denominator.astype(float)
    return numerator.astype(float) / denominator.where(denominator > 0)


@dataclass
class Landing:
    items: pd.DataFrame
    locations: pd.DataFrame
    promotion_lines: pd.DataFrame  # every line after expanding '*', all approval statuses
    sales: pd.DataFrame
    snapshots: pd.DataFrame
    receipts: pd.DataFrame  # empty (with its columns) when the landing sends none

    @classmethod
    def read(cls, landing: Path) -> Landing:
        items = latest(read_entity(landing, "erp/items"), ["item_id"])
        for column in ("unit_cost", "regular_price"):
            items[column] = items[column].astype(float)
        locations = latest(read_entity(landing, "erp/locations"), ["location_id"])
        sales = latest(read_entity(landing, "pos/sales"), ["business_date", "location_id", "item_id"])
        sales["business_date"] = pd.to_datetime(sales["business_date"])
        sales["discount_amount"] = sales["discount_amount"].fillna(0)
        snapshots = latest(read_entity(landing, "inventory/snapshots"), ["snapshot_date", "location_id", "item_id"])
        snapshots["snapshot_date"] = pd.to_datetime(snapshots["snapshot_date"])
        for column in ("in_transit_units", "on_order_units"):
            if column not in snapshots:
                snapshots[column] = np.nan
        if list((landing / "inventory" / "receipts").glob("*/*.csv")):
            receipts = latest(read_entity(landing, "inventory/receipts"), ["receipt_id"])
            receipts["receipt_date"] = pd.to_datetime(receipts["receipt_date"])
        else:
            receipts = pd.DataFrame(
                {
                    "receipt_id": pd.Series(dtype=str),
                    "receipt_date": pd.Series(dtype="datetime64[ns]"),
                    "location_id": pd.Series(dtype=str),
                    "item_id": pd.Series(dtype=str),
                    "units": pd.Series(dtype=float),
                }
            )
        return cls(items, locations, _promotion_lines(landing, locations), sales, snapshots, receipts)


def _promotion_lines(landing: Path, locations: pd.DataFrame) -> pd.DataFrame:
    lines = latest(read_entity(landing, "erp/promotions"), ["promotion_id", "item_id", "location_id"])
    for column in ("vendor_funding_per_unit", "lump_sum_funding"):
        if column not in lines:
            lines[column] = np.nan
    lines["start_date"] = pd.to_datetime(lines["start_date"])
    lines["end_date"] = pd.to_datetime(lines["end_date"])
    lines["is_approved"] = lines["approval_status"].str.strip().str.lower() == "approved"
    explicit = lines[lines["location_id"] != "*"].copy()
    explicit["lump_sum_funding_allocated"] = explicit["lump_sum_funding"]
    star = lines[lines["location_id"] == "*"].drop(columns="location_id")
    star = star.merge(locations[["location_id"]], how="cross")
    star["lump_sum_funding_allocated"] = star["lump_sum_funding"] / len(locations)
    star = star.merge(explicit[["promotion_id", "item_id", "location_id"]], how="left", indicator=True)
    star = star[star["_merge"] == "left_only"].drop(columns="_merge")
    return pd.concat([explicit, star], ignore_index=True)


def promotion_weeks(landing: Landing) -> pd.DataFrame:
    """Approved line × touched week, with live days and the one promotion each shared week goes to."""
    approved = landing.promotion_lines[landing.promotion_lines["is_approved"]].reset_index(drop=True)
    first = week_end(approved["start_date"])
    last = week_end(approved["end_date"])
    week_count = ((last - first).dt.days // 7 + 1).to_numpy()
    line = np.repeat(np.arange(len(approved)), week_count)
    offset = np.concatenate([np.arange(n) for n in week_count]) if len(week_count) else np.array([], dtype=int)
    weeks = approved.loc[line, ["promotion_id", "item_id", "location_id", "start_date", "end_date"]].reset_index(
        drop=True
    )
    weeks["week_end_date"] = first.to_numpy()[line] + pd.to_timedelta(7 * offset, unit="D")
    live_from = np.maximum(weeks["start_date"], weeks["week_end_date"] - 6 * DAY)
    live_to = np.minimum(weeks["end_date"], weeks["week_end_date"])
    weeks["live_days"] = (live_to - live_from).dt.days + 1
    key = ["item_id", "location_id", "week_end_date"]
    weeks["promotions_live"] = weeks.groupby(key)["promotion_id"].transform("size")
    ranked = weeks.sort_values(
        [*key, "live_days", "start_date", "promotion_id"], ascending=[True, True, True, False, True, True]
    )
    winners = ranked.drop_duplicates(key, keep="first")
    weeks["is_attributed_week"] = False
    weeks.loc[winners.index, "is_attributed_week"] = True
    return weeks


def weekly_sales(landing: Landing) -> pd.DataFrame:
    sales = landing.sales.assign(week_end_date=week_end(landing.sales["business_date"]))
    return sales.groupby(["item_id", "location_id", "week_end_date"], as_index=False).agg(
        units=("units", "sum"), net_sales=("net_sales", "sum")
    )


def sell_through(landing: Landing, weeks: pd.DataFrame) -> pd.DataFrame:
    key = ["item_id", "location_id", "week_end_date"]
    sales = weekly_sales(landing)
    snaps = landing.snapshots.assign(week_end_date=week_end(landing.snapshots["snapshot_date"]))
    closing = snaps[snaps["snapshot_date"] == snaps["week_end_date"]][[*key, "on_hand_units"]].rename(
        columns={"on_hand_units": "closing_on_hand_units"}
    )
    stock = (
        snaps.groupby(key, as_index=False)
        .agg(average_on_hand_units=("on_hand_units", "mean"), minimum_on_hand_units=("on_hand_units", "min"))
        .merge(closing, on=key, how="left")
    )
    frame = sales.merge(stock, on=key, how="outer")
    frame["units_sold"] = frame["units"].fillna(0.0)
    frame["net_sales"] = frame["net_sales"].fillna(0.0)
    frame = frame.merge(landing.items[["item_id", "unit_cost", "regular_price"]], on="item_id", how="left")

    attributed = weeks[weeks["is_attributed_week"]][[*key, "promotion_id"]]
    live = weeks.groupby(key, as_index=False).agg(live_promotion_count=("promotion_id", "size"))
    funding = landing.promotion_lines[landing.promotion_lines["is_approved"]][
        ["promotion_id", "item_id", "location_id", "vendor_funding_per_unit"]
    ]
    frame = frame.merge(attributed, on=key, how="left").merge(live, on=key, how="left")
    frame = frame.merge(funding, on=["promotion_id", "item_id", "location_id"], how="left")
    frame["live_promotion_count"] = frame["live_promotion_count"].fillna(0)
    frame["is_promoted"] = frame["promotion_id"].notna()
    frame["vendor_funding"] = frame["units_sold"] * frame["vendor_funding_per_unit"].fillna(0.0)

    closing_ok = frame["closing_on_hand_units"].notna() & (frame["closing_on_hand_units"] >= 0)
    average_ok = frame["average_on_hand_units"].notna() & (frame["average_on_hand_units"] >= 0)
    frame["has_negative_on_hand"] = (frame["closing_on_hand_units"] < 0) | (frame["minimum_on_hand_units"] < 0)
    frame["sell_through_numerator"] = frame["units_sold"].where(closing_ok)
    frame["sell_through_denominator"] = (frame["units_sold"] + frame["closing_on_hand_units"]).where(closing_ok)
    frame["sell_through_rate"] = ratio(frame["sell_through_numerator"], frame["sell_through_denominator"])
    frame["gross_margin"] = frame["net_sales"] - frame["units_sold"] * frame["unit_cost"]
    frame["average_inventory_at_cost"] = frame["average_on_hand_units"] * frame["unit_cost"]
    frame["gmroi_numerator"] = frame["gross_margin"].where(average_ok)
    frame["gmroi_denominator"] = frame["average_inventory_at_cost"].where(average_ok)
    frame["gmroi"] = ratio(frame["gmroi_numerator"], frame["gmroi_denominator"])
    frame["gmroi_net_of_funding"] = ratio(
        (frame["gross_margin"] + frame["vendor_funding"]).where(average_ok), frame["gmroi_denominator"]
    )

    # trailing rate of sale: the same series' in-stock weeks among this week and the 3 before
    in_stock = frame[frame["closing_on_hand_units"] > 0][[*key, "units_sold"]]
    trailing = []
    for offset in range(TRAILING_WEEKS):
        shifted = in_stock.assign(week_end_date=in_stock["week_end_date"] + pd.Timedelta(days=7 * offset))
        trailing.append(shifted)
    trailing = (
        pd.concat(trailing)
        .groupby(key, as_index=False)
        .agg(trailing_rate_of_sale_units=("units_sold", "mean"), trailing_in_stock_weeks=("units_sold", "size"))
    )
    frame = frame.merge(trailing, on=key, how="left")
    frame["trailing_in_stock_weeks"] = frame["trailing_in_stock_weeks"].fillna(0)
    rate_known = frame["trailing_rate_of_sale_units"].notna()
    frame["weeks_of_supply_numerator"] = frame["closing_on_hand_units"].where(closing_ok & rate_known)
    frame["weeks_of_supply_denominator"] = frame["trailing_rate_of_sale_units"].where(closing_ok)
    frame["weeks_of_supply"] = ratio(frame["weeks_of_supply_numerator"], frame["weeks_of_supply_denominator"])
    frame["stock_to_sales_numerator"] = (frame["closing_on_hand_units"] * frame["regular_price"]).where(closing_ok)
    frame["stock_to_sales_denominator"] = frame["net_sales"].where(closing_ok)
    frame["stock_to_sales"] = ratio(frame["stock_to_sales_numerator"], frame["stock_to_sales_denominator"])
    return frame


def stock_exposure(landing: Landing, demand_forecast: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    snaps = landing.snapshots.merge(
        landing.items[["item_id", "unit_cost", "regular_price", "lead_time_days"]], on="item_id", how="left"
    )
    latest_date = snaps["snapshot_date"].max()
    snaps["is_latest_snapshot_date"] = snaps["snapshot_date"] == latest_date
    snaps["inventory_position_units"] = (
        snaps["on_hand_units"] + snaps["in_transit_units"].fillna(0) + snaps["on_order_units"].fillna(0)
    )
    snaps["inventory_position_at_cost"] = snaps["inventory_position_units"] * snaps["unit_cost"]
    snaps["on_hand_at_retail"] = snaps["on_hand_units"] * snaps["regular_price"]

    # trailing actuals: the 4 complete weeks ending in the 28 days up to the snapshot date, i.e.
    # the last week ending on or before it and the 3 before (weeks without sales count as 0)
    sales = weekly_sales(landing)[["item_id", "location_id", "week_end_date", "units"]]
    days = TRAILING_WEEKS * 7
    containing = week_end(snaps["snapshot_date"])
    last_complete = containing.where(containing == snaps["snapshot_date"], containing - 7 * DAY)
    trailing_units = pd.Series(0.0, index=snaps.index)
    for back in range(TRAILING_WEEKS):
        wanted = snaps[["item_id", "location_id"]].assign(week_end_date=last_complete - 7 * back * DAY)
        found = wanted.merge(sales, on=["item_id", "location_id", "week_end_date"], how="left")["units"]
        trailing_units += found.fillna(0.0).to_numpy()
    trailing_demand = trailing_units / days

    horizon = demand_forecast[
        ~demand_forecast["is_history"]
        & (demand_forecast["week_end_date"] > latest_date)
        & (demand_forecast["week_end_date"] <= latest_date + pd.Timedelta(days=7 * COVER_FORECAST_WEEKS))
    ]
    horizon = horizon.groupby(["item_id", "location_id"], as_index=False).agg(
        forecast_units=("predicted_units", "sum"), forecast_weeks=("predicted_units", "size")
    )
    snaps = snaps.merge(horizon, on=["item_id", "location_id"], how="left")
    forecast_demand = snaps["forecast_units"] / (7 * snaps["forecast_weeks"])
    snaps["daily_demand_units"] = np.where(snaps["is_latest_snapshot_date"], forecast_demand, trailing_demand)
    snaps["days_of_cover"] = ratio(snaps["on_hand_units"].clip(lower=0), snaps["daily_demand_units"])
    protection = snaps["lead_time_days"] + REVIEW_PERIOD_DAYS
    risk = pd.Series(pd.NA, index=snaps.index, dtype="boolean")
    demand = snaps["daily_demand_units"]
    risk[demand <= 0] = False
    positive = demand > 0
    risk[positive] = (snaps.loc[positive, "on_hand_units"].clip(lower=0) / demand[positive]) < protection[positive]
    snaps["stockout_risk"] = risk

    snaps = snaps.merge(
        targets[["item_id", "location_id", "forecast_protection_units", "safety_stock_units"]],
        on=["item_id", "location_id"],
        how="left",
    )
    excess = (snaps["on_hand_units"] - snaps["forecast_protection_units"] - snaps["safety_stock_units"]).clip(lower=0)
    snaps["excess_units"] = excess.where(snaps["is_latest_snapshot_date"])
    return _fifo_age(snaps, landing.receipts)


AGE_BUCKETS = ("age_0_30", "age_31_60", "age_61_90", "age_over_90")


def _fifo_age(snaps: pd.DataFrame, receipts: pd.DataFrame) -> pd.DataFrame:
    """Age buckets by attributing the on-hand to receipts one by one, newest first (FIFO selling)."""
    key = ["item_id", "location_id", "snapshot_date"]
    received = receipts[receipts["units"] > 0][["item_id", "location_id", "receipt_date", "units"]]
    pairs = snaps[[*key, "on_hand_units"]].merge(received, on=["item_id", "location_id"])
    pairs = pairs[pairs["receipt_date"] <= pairs["snapshot_date"]]
    pairs = pairs.sort_values([*key, "receipt_date"], ascending=[True, True, True, False], kind="stable")
    # units of the receipts newer than this one (same-day receipts have the same age either way)
    newer = pairs.groupby(key)["units"].cumsum() - pairs["units"]
    on_hand = pairs["on_hand_units"].clip(lower=0)
    pairs["attributed"] = np.minimum(pairs["units"], (on_hand - newer).clip(lower=0))
    age_days = (pairs["snapshot_date"] - pairs["receipt_date"]).dt.days
    pairs["bucket"] = np.select([age_days <= 30, age_days <= 60, age_days <= 90], list(AGE_BUCKETS[:3]), AGE_BUCKETS[3])
    buckets = pairs.pivot_table(index=key, columns="bucket", values="attributed", aggfunc="sum", fill_value=0.0)
    buckets = buckets.reindex(columns=list(AGE_BUCKETS), fill_value=0.0)
    buckets.columns = [f"{c}_units" for c in buckets.columns]
    buckets = buckets.reset_index()
    snaps = snaps.merge(buckets, on=key, how="left")  # no receipt up to the date: NaN everywhere
    explained = snaps[[f"{c}_units" for c in AGE_BUCKETS]].sum(axis=1, min_count=1)
    snaps["age_unknown_units"] = snaps["on_hand_units"].clip(lower=0) - explained
    for bucket in (*AGE_BUCKETS, "age_unknown"):
        snaps[f"{bucket}_at_cost"] = snaps[f"{bucket}_units"] * snaps["unit_cost"]
    return snaps


def promotion_profitability(landing: Landing, weeks: pd.DataFrame, demand_forecast: pd.DataFrame) -> pd.DataFrame:
    line_key = ["promotion_id", "item_id", "location_id"]
    key = ["item_id", "location_id", "week_end_date"]
    history = demand_forecast[demand_forecast["is_history"]][[*key, "baseline_units"]]
    sales = weekly_sales(landing)
    measured = weeks.merge(history, on=key).merge(sales, on=key, how="left")
    measured[["units", "net_sales"]] = measured[["units", "net_sales"]].fillna(0.0)
    kept = measured["is_attributed_week"]
    for column in ("units", "baseline_units", "net_sales"):
        measured[f"kept_{column}"] = measured[column].where(kept, 0.0)
    lines = measured.groupby(line_key, as_index=False).agg(
        history_weeks=("week_end_date", "size"),
        weeks=("is_attributed_week", "sum"),
        actual_units=("kept_units", "sum"),
        baseline_units=("kept_baseline_units", "sum"),
        net_sales=("kept_net_sales", "sum"),
    )
    spans = weeks.assign(is_overlap_week=weeks["promotions_live"] > 1).groupby(line_key, as_index=False).agg(
        last_week_end_date=("week_end_date", "max"),
        overlap_weeks=("is_overlap_week", "sum"),
    )
    last_rows = weeks.merge(spans, on=line_key)
    last_rows = last_rows[last_rows["week_end_date"] == last_rows["last_week_end_date"]]
    spans = spans.merge(
        last_rows[[*line_key, "is_attributed_week"]].rename(columns={"is_attributed_week": "keeps_last_week"}),
        on=line_key,
    )
    lines = lines.merge(spans, on=line_key)
    lines = lines.merge(landing.promotion_lines, on=line_key).merge(
        landing.items[["item_id", "unit_cost", "regular_price"]], on="item_id"
    )
    lines["has_overlap"] = lines["overlap_weeks"] > 0
    lines["incremental_units"] = lines["actual_units"] - lines["baseline_units"]
    lines["lift_pct"] = ratio(lines["incremental_units"], lines["baseline_units"])
    lines["incremental_gross_margin"] = (
        lines["net_sales"]
        - lines["actual_units"] * lines["unit_cost"]
        - lines["baseline_units"] * (lines["regular_price"] - lines["unit_cost"])
    )
    depth = lines["regular_price"] - lines["promo_price"]
    lines["discount_cost"] = lines["actual_units"] * depth
    lines["discount_on_baseline_units"] = (
        np.minimum(lines["actual_units"], lines["baseline_units"]).clip(lower=0) * depth
    )
    lines["vendor_funding"] = lines["actual_units"] * lines["vendor_funding_per_unit"].fillna(0) + lines[
        "lump_sum_funding_allocated"
    ].fillna(0)
    lines["is_fully_funded"] = (lines["vendor_funding"] > 0) & (lines["vendor_funding"] >= lines["discount_cost"])
    lines["roi_numerator"] = lines["incremental_gross_margin"] + lines["vendor_funding"]
    lines["roi_denominator"] = lines["discount_cost"]
    lines["roi"] = ratio(lines["roi_numerator"], lines["roi_denominator"]).where(~lines["is_fully_funded"])

    # post-promotion dip: unpromoted history weeks within 2 weeks of a line's last week, each
    # claimed by the line that ended last (ties: the line that kept its last week, then the id)
    promoted = weeks[key].drop_duplicates()
    unpromoted = history.merge(promoted, on=key, how="left", indicator=True)
    unpromoted = unpromoted[unpromoted["_merge"] == "left_only"].drop(columns="_merge").merge(sales, on=key, how="left")
    unpromoted["dip"] = unpromoted["baseline_units"] - unpromoted["units"].fillna(0.0)
    claims = spans.merge(unpromoted, on=["item_id", "location_id"])
    gap = claims["week_end_date"] - claims["last_week_end_date"]
    claims = claims[(gap > pd.Timedelta(0)) & (gap <= pd.Timedelta(days=7 * POST_PROMOTION_WEEKS))]
    claims = claims.sort_values(
        [*key, "last_week_end_date", "keeps_last_week", "promotion_id"],
        ascending=[True, True, True, False, False, True],
    ).drop_duplicates(key, keep="first")
    dips = claims.groupby(line_key, as_index=False).agg(
        post_promotion_weeks=("dip", "size"), post_promotion_dip_units=("dip", "sum")
    )
    lines = lines.merge(dips, on=line_key, how="left")
    lines["post_promotion_weeks"] = lines["post_promotion_weeks"].fillna(0)
    return lines


def promotion_summary(landing: Landing, lines: pd.DataFrame) -> pd.DataFrame:
    approved = landing.promotion_lines[landing.promotion_lines["is_approved"]]
    measured_keys = lines[["promotion_id", "item_id", "location_id"]].assign(measured=True)
    approved = approved.merge(measured_keys, on=["promotion_id", "item_id", "location_id"], how="left")
    unmeasured = (
        approved[approved["measured"].isna()]
        .groupby("promotion_id", as_index=False)
        .agg(unmeasured_lines=("item_id", "size"), unmeasured_lump=("lump_sum_funding_allocated", "sum"))
    )
    # the summary adds the lines as the line mart stores them: money at 4 decimals
    lines = lines.assign(
        **{c: lines[c].round(4) for c in ("incremental_gross_margin", "discount_cost", "vendor_funding")}
    )
    sums = lines.groupby("promotion_id", as_index=False).agg(
        measured_lines=("item_id", "size"),
        actual_units=("actual_units", "sum"),
        baseline_units=("baseline_units", "sum"),
        incremental_units=("incremental_units", "sum"),
        incremental_gross_margin=("incremental_gross_margin", "sum"),
        discount_cost=("discount_cost", "sum"),
        line_vendor_funding=("vendor_funding", "sum"),
    )
    summary = pd.DataFrame({"promotion_id": approved["promotion_id"].unique()})
    summary = summary.merge(sums, on="promotion_id", how="left").merge(unmeasured, on="promotion_id", how="left")
    summary["unmeasured_lines"] = summary["unmeasured_lines"].fillna(0)
    summary["measured_lines"] = summary["measured_lines"].fillna(0)
    summary["vendor_funding"] = summary["line_vendor_funding"] + summary["unmeasured_lump"].fillna(0)
    summary["lift_pct"] = ratio(summary["incremental_units"], summary["baseline_units"])
    summary["is_fully_funded"] = (
        ((summary["vendor_funding"] > 0) & (summary["vendor_funding"] >= summary["discount_cost"]))
        .astype("boolean")
        .where(summary["measured_lines"] > 0)
    )  # nothing measured: unknown
    summary["roi"] = ratio(
        summary["incremental_gross_margin"] + summary["vendor_funding"], summary["discount_cost"]
    ).where(~summary["is_fully_funded"].fillna(False))
    return summary


PRICE_TOLERANCE_ABS = 0.01
PRICE_TOLERANCE_PCT = 0.02


def promotion_execution(landing: Landing, weeks: pd.DataFrame, demand_forecast: pd.DataFrame) -> pd.DataFrame:
    """Per approved line that has started: promoted days by price check at the tills, stock-out days
    (each day read from the latest snapshot on or before it) and the units they lost."""
    lines = landing.promotion_lines[landing.promotion_lines["is_approved"]].reset_index(drop=True)
    latest_sales = landing.sales["business_date"].max()
    lines = lines[lines["start_date"] <= latest_sales].reset_index(drop=True)
    location_types = landing.locations.set_index("location_id")["location_type"]
    lines["is_checked_at_tills"] = lines["channel"].isin(["store", "all"]) & (
        lines["location_id"].map(location_types).fillna("store") == "store"
    )
    last_day = lines["end_date"].where(lines["end_date"] < latest_sales, latest_sales)
    day_count = ((last_day - lines["start_date"]).dt.days + 1).to_numpy()
    line_index = np.repeat(np.arange(len(lines)), day_count)
    offset = np.concatenate([np.arange(n) for n in day_count])
    days = lines.loc[line_index].reset_index(drop=True)
    days["promoted_date"] = days["start_date"] + pd.to_timedelta(offset, unit="D")
    days["expected_price"] = days.groupby(["item_id", "location_id", "promoted_date"])["promo_price"].transform("min")

    sales = landing.sales.copy()
    sales["period_days"] = sales.get("period_days", pd.Series(1, index=sales.index)).fillna(1).astype(int)
    sales["period_start"] = sales["business_date"] - pd.to_timedelta(sales["period_days"] - 1, unit="D")
    daily = sales[sales["period_days"] == 1].rename(columns={"business_date": "promoted_date"})
    weekly = sales[sales["period_days"] == 7].rename(columns={"business_date": "covering_week_end"})
    days["covering_week_end"] = week_end(days["promoted_date"])
    columns = ["item_id", "location_id", "units", "net_sales", "period_start"]
    by_day = days.merge(daily[[*columns, "promoted_date"]], on=["item_id", "location_id", "promoted_date"], how="left")
    by_week = days.merge(
        weekly[[*columns, "covering_week_end"]], on=["item_id", "location_id", "covering_week_end"], how="left"
    )
    for column in ("units", "net_sales", "period_start"):
        days[column] = by_day[column].where(by_day["units"].notna(), by_week[column])
    # the covering row's last day: the day itself for a daily row, the week's end for a weekly one
    covered_end = np.where(by_day["units"].notna(), by_day["promoted_date"], by_week["covering_week_end"])
    days["period_end"] = pd.to_datetime(covered_end)
    verifiable = (
        (days["units"] > 0) & (days["period_start"] >= days["start_date"]) & (days["period_end"] <= days["end_date"])
    )
    realised = days["net_sales"] / days["units"].where(days["units"] > 0)
    tolerance = np.maximum(PRICE_TOLERANCE_ABS, PRICE_TOLERANCE_PCT * days["expected_price"])
    check = np.select(
        [
            ~days["is_checked_at_tills"],
            ~verifiable,
            realised > days["expected_price"] + tolerance,
            realised < days["expected_price"] - tolerance,
        ],
        ["not_applicable", "not_verifiable", "overcharged", "undercharged"],
        default="compliant",
    )
    days["price_check"] = check
    snapshots = landing.snapshots.copy()
    if "stockout_hours" not in snapshots:
        snapshots["stockout_hours"] = np.nan
    # the latest snapshot on or before each promoted day (merge_asof: the nearest earlier key)
    days = pd.merge_asof(
        days.assign(promoted_date=days["promoted_date"].astype("datetime64[ns]")).sort_values("promoted_date"),
        snapshots[["item_id", "location_id", "snapshot_date", "on_hand_units", "stockout_hours"]]
        .assign(snapshot_date=lambda frame: frame["snapshot_date"].astype("datetime64[ns]"))
        .sort_values(
            "snapshot_date"
        ),
        left_on="promoted_date",
        right_on="snapshot_date",
        by=["item_id", "location_id"],
        direction="backward",
    )
    days["observed"] = days["snapshot_date"].notna()
    hours_that_day = (days["snapshot_date"] == days["promoted_date"]) & (days["stockout_hours"].fillna(0) > 0)
    days["stockout"] = days["observed"] & ((days["on_hand_units"] <= 0) | hours_that_day)
    days["unknown"] = ~days["observed"]
    days["checked"] = days["price_check"] != "not_applicable"
    for value in ("compliant", "overcharged", "undercharged", "not_verifiable"):
        days[value] = days["price_check"] == value
    line_key = ["promotion_id", "item_id", "location_id"]
    per_line = days.groupby(line_key, as_index=False).agg(
        promoted_days=("promoted_date", "size"),
        price_checked_days=("checked", "sum"),
        price_compliant_days=("compliant", "sum"),
        overcharged_days=("overcharged", "sum"),
        undercharged_days=("undercharged", "sum"),
        price_not_verifiable_days=("not_verifiable", "sum"),
        stockout_rate_numerator=("stockout", "sum"),
        stockout_rate_denominator=("observed", "sum"),
        stock_unknown_days=("unknown", "sum"),
    )
    verifiable_days = per_line[["price_compliant_days", "overcharged_days", "undercharged_days"]].sum(axis=1)
    per_line["price_compliance_rate"] = ratio(per_line["price_compliant_days"], verifiable_days)
    per_line["price_verifiable_share"] = ratio(verifiable_days, per_line["price_checked_days"])
    per_line["stockout_rate"] = ratio(per_line["stockout_rate_numerator"], per_line["stockout_rate_denominator"])

    # lost units per attributed history week: the forecast's daily demand on the out-of-stock
    # promoted days, capped by the week's shortfall against the forecast
    out = days[days["stockout"]].assign(week_end_date=lambda d: week_end(d["promoted_date"]))
    out_weeks = out.groupby([*line_key, "week_end_date"], as_index=False).agg(stockout_days=("promoted_date", "size"))
    attributed = weeks[weeks["is_attributed_week"]][[*line_key, "week_end_date"]]
    history = demand_forecast[demand_forecast["is_history"]][
        ["item_id", "location_id", "week_end_date", "predicted_units", "actual_units"]
    ]
    lost = out_weeks.merge(attributed, on=[*line_key, "week_end_date"]).merge(
        history, on=["item_id", "location_id", "week_end_date"]
    )
    predicted = lost["predicted_units"].fillna(0)
    shortfall = (predicted - lost["actual_units"].fillna(0)).clip(lower=0)
    lost["lost_units"] = np.minimum(shortfall, predicted.clip(lower=0) / 7 * lost["stockout_days"])
    lost = lost.groupby(line_key, as_index=False).agg(stockout_lost_units=("lost_units", "sum"))
    per_line = per_line.merge(lost, on=line_key, how="left")
    per_line["stockout_lost_units"] = per_line["stockout_lost_units"].fillna(0.0)
    return per_line
