"""All item × location series on one weekly grid: units and promotion inputs as (series × week) arrays.

The pooled parts of the model (promotion effects shared across stores, recent levels) and the
backtest work on every series at once, so the inputs are laid out as dense arrays rather than
one frame per series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PROMOTION_INPUTS: tuple[str, ...] = ("discount_depth", "feature", "display")
SERIES_KEY = ["item_id", "location_id"]
WEEK = pd.Timedelta(days=7)
UNKNOWN_CATEGORY = "(unknown)"


@dataclass
class Panel:
    """Weekly units and promotion inputs of S series over W weeks (history, then horizon).

    `units` is NaN before a series' first sale and after the origin; weeks in between without a
    POS row are 0 (the extract only carries weeks that sold). Promotion inputs come from the
    approved promotion records, in history and horizon alike, so the effect is learnt on the
    inputs a planner sets.
    """

    keys: pd.DataFrame  # item_id, location_id, category — one row per series, sorted
    weeks: pd.DatetimeIndex  # week-ending dates, first history week … origin + horizon
    origin_index: int  # index of the forecast origin (last history week) in `weeks`
    units: np.ndarray  # (S, W) float
    first_index: np.ndarray  # (S,) index of each series' first week with a sales row
    promoted: np.ndarray  # (S, W) bool: an approved promotion is live
    discount_depth: np.ndarray  # (S, W) 1 − promo price ÷ regular price, 0 when not promoted
    feature: np.ndarray  # (S, W) 0/1
    display: np.ndarray  # (S, W) 0/1

    @property
    def series_count(self) -> int:
        return len(self.keys)

    @property
    def observed(self) -> np.ndarray:
        """(S, W) True where a week has an actual (from the first sale to the origin)."""
        return ~np.isnan(self.units)

    def promotion_week_number(self) -> np.ndarray:
        """(S, W) 1 in the first week of a run of promoted weeks, 2 in the second, …; 0 when not promoted."""
        number = np.zeros(self.promoted.shape)
        for t in range(self.promoted.shape[1]):
            previous = number[:, t - 1] if t else 0.0
            number[:, t] = np.where(self.promoted[:, t], previous + 1, 0.0)
        return number

    def subset(self, rows: np.ndarray) -> Panel:
        """The panel of the series at positions `rows` (same weeks)."""
        return Panel(
            keys=self.keys.iloc[rows].reset_index(drop=True),
            weeks=self.weeks,
            origin_index=self.origin_index,
            units=self.units[rows],
            first_index=self.first_index[rows],
            promoted=self.promoted[rows],
            discount_depth=self.discount_depth[rows],
            feature=self.feature[rows],
            display=self.display[rows],
        )


def build_panel(
    demand: pd.DataFrame,
    promotion_weeks: pd.DataFrame,
    origin: pd.Timestamp,
    horizon_weeks: int,
    item_categories: pd.DataFrame | None = None,
) -> Panel:
    """Lay checked int_demand_weekly and int_promotion_weeks rows out on the weekly grid.

    `demand` and `promotion_weeks` must already be checked (ids as text, dates normalised, one
    row per series and week in `demand`). Where approved promotions overlap in a week, the
    deepest discount and any feature or display count: shoppers see the strongest offer. A week
    the demand extract marks promoted without a promotion record keeps the demand row's inputs.
    `item_categories` (item_id, category) lets items share promotion effects within a category.
    """
    keys = demand.loc[:, SERIES_KEY].drop_duplicates().sort_values(SERIES_KEY, ignore_index=True)
    categories = _categories(item_categories)
    keys["category"] = [categories.get(item, UNKNOWN_CATEGORY) for item in keys["item_id"]]
    first_week = demand["week_end_date"].min()
    weeks = pd.date_range(first_week, origin + horizon_weeks * WEEK, freq="7D")
    origin_index = int((origin - first_week).days // 7)
    series_count, week_count = len(keys), len(weeks)

    position = pd.Series(np.arange(series_count), index=pd.MultiIndex.from_frame(keys[SERIES_KEY]))
    rows = position.reindex(pd.MultiIndex.from_frame(demand[SERIES_KEY])).to_numpy()
    cols = ((demand["week_end_date"] - first_week).dt.days // 7).to_numpy()
    units = np.full((series_count, week_count), np.nan)
    units[rows, cols] = demand["units"].to_numpy(float)
    first_index = np.full(series_count, week_count, dtype=int)
    np.minimum.at(first_index, rows, cols)
    history = np.arange(week_count)[None, :]
    in_span = (history >= first_index[:, None]) & (history <= origin_index)
    units = np.where(in_span & np.isnan(units), 0.0, units)

    promoted = np.zeros((series_count, week_count), bool)
    inputs = {name: np.zeros((series_count, week_count)) for name in PROMOTION_INPUTS}
    demand_promoted = demand["is_promoted"].to_numpy(bool)
    if demand_promoted.any():
        promoted[rows[demand_promoted], cols[demand_promoted]] = True
        for name in PROMOTION_INPUTS:
            inputs[name][rows[demand_promoted], cols[demand_promoted]] = (
                demand.loc[demand_promoted, name].fillna(0.0).to_numpy(float)
            )
    if not promotion_weeks.empty:
        strongest = promotion_weeks.groupby([*SERIES_KEY, "week_end_date"], sort=False)[list(PROMOTION_INPUTS)].max()
        strongest = strongest.reset_index()
        plan_rows = position.reindex(pd.MultiIndex.from_frame(strongest[SERIES_KEY])).to_numpy()
        plan_cols = ((strongest["week_end_date"] - first_week).dt.days // 7).to_numpy()
        # Promotions of series without sales history, or outside the grid, cannot be forecast.
        usable = ~np.isnan(plan_rows) & (plan_cols >= 0) & (plan_cols < week_count)
        plan_rows = plan_rows[usable].astype(int)
        plan_cols = plan_cols[usable]
        promoted[plan_rows, plan_cols] = True
        for name in PROMOTION_INPUTS:
            inputs[name][plan_rows, plan_cols] = strongest.loc[usable, name].fillna(0.0).to_numpy(float)
    before_first = history < first_index[:, None]
    promoted[before_first] = False
    for name in PROMOTION_INPUTS:
        inputs[name] = np.where(promoted, inputs[name], 0.0)
    return Panel(
        keys=keys,
        weeks=weeks,
        origin_index=origin_index,
        units=units,
        first_index=first_index,
        promoted=promoted,
        discount_depth=np.clip(inputs["discount_depth"], 0.0, 1.0),
        feature=(inputs["feature"] > 0).astype(float),
        display=(inputs["display"] > 0).astype(float),
    )


def _categories(item_categories: pd.DataFrame | None) -> dict[str, str]:
    if item_categories is None or item_categories.empty:
        return {}
    missing = [c for c in ("item_id", "category") if c not in item_categories.columns]
    if missing:
        raise ValueError(f"item categories lack columns {missing}; expected item_id, category")
    frame = item_categories.dropna(subset=["item_id"]).drop_duplicates("item_id", keep="last")
    return dict(zip(frame["item_id"].astype(str), frame["category"].fillna(UNKNOWN_CATEGORY).astype(str), strict=True))
