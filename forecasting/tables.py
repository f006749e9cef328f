"""Column names and DuckDB types of the forecast.* tables, in table order.

The frames this package returns carry exactly these columns, with pandas dtypes that DuckDB
reads as the listed types (DATE columns hold `datetime.date`, NaN in DOUBLE columns is NULL).
"""

from __future__ import annotations

import pandas as pd

DEMAND_WEEKLY: dict[str, str] = {
    "item_id": "VARCHAR",
    "location_id": "VARCHAR",
    "week_end_date": "DATE",
    "is_history": "BOOLEAN",
    "actual_units": "DOUBLE",
    "predicted_units": "DOUBLE",
    "baseline_units": "DOUBLE",
    "predicted_lower": "DOUBLE",
    "predicted_upper": "DOUBLE",
    "method": "VARCHAR",
    "model_version": "VARCHAR",
    "is_promoted": "BOOLEAN",
    # The week's uplift (predicted − baseline) with the pooled promotion effect at the ends of
    # its interval; 0 in weeks without a promotion.
    "uplift_lower_units": "DOUBLE",
    "uplift_upper_units": "DOUBLE",
}

PROMOTION_UPLIFT: dict[str, str] = {
    "promotion_id": "VARCHAR",
    "item_id": "VARCHAR",
    "location_id": "VARCHAR",
    "start_date": "DATE",
    "end_date": "DATE",
    "promo_weeks": "INTEGER",
    "predicted_units": "DOUBLE",
    "baseline_units": "DOUBLE",
    "uplift_units": "DOUBLE",
    "uplift_pct": "DOUBLE",
    "uplift_lower": "DOUBLE",
    "uplift_upper": "DOUBLE",
    "method": "VARCHAR",
    "model_version": "VARCHAR",
}

SERIES_FIT_LOG: dict[str, str] = {
    "item_id": "VARCHAR",
    "location_id": "VARCHAR",
    "history_weeks": "INTEGER",
    "promoted_weeks": "INTEGER",
    "nonzero_weeks": "INTEGER",
    "method": "VARCHAR",
    "status": "VARCHAR",
    "reason": "VARCHAR",
    "fit_seconds": "DOUBLE",
    # Where the promotion effect was learnt ('item', 'category' or 'none') and on how many of
    # the item's promoted store-weeks; the store's own multiplier on the item's lift.
    "promotion_effect_source": "VARCHAR",
    "promotion_effect_weeks": "INTEGER",
    "store_lift_multiplier": "DOUBLE",
    # What the horizon baseline rests on: recent non-promoted weeks, deflated promoted weeks, or no sales.
    "level_source": "VARCHAR",
}

REPLENISHMENT_TARGETS: dict[str, str] = {
    "item_id": "VARCHAR",
    "location_id": "VARCHAR",
    "as_of_date": "DATE",
    "lead_time_days": "INTEGER",
    "review_period_days": "INTEGER",
    "protection_period_days": "INTEGER",
    "forecast_lead_time_units": "DOUBLE",
    "forecast_protection_units": "DOUBLE",
    "sigma_protection_units": "DOUBLE",
    "service_level": "DOUBLE",
    "z_value": "DOUBLE",
    "safety_stock_units": "DOUBLE",
    "reorder_point_units": "DOUBLE",
    "order_up_to_units": "DOUBLE",
    "inventory_position_units": "DOUBLE",
    "pack_size": "INTEGER",
    "moq": "INTEGER",
    "suggested_order_units": "DOUBLE",
    "method": "VARCHAR",
    "model_version": "VARCHAR",
    # Where σ_P came from (see forecasting.replenishment.protection_sigma) and over how many
    # backtest windows of the protection period's length it was measured.
    "sigma_basis": "VARCHAR",
    "sigma_windows": "INTEGER",
}

# One row per scored forecast of the rolling-origin backtest: the shipped model and every
# benchmark, for each series, origin and horizon.
BACKTEST_POINTS: dict[str, str] = {
    "item_id": "VARCHAR",
    "location_id": "VARCHAR",
    "origin_date": "DATE",
    "horizon_weeks": "INTEGER",
    "week_end_date": "DATE",
    "is_promoted": "BOOLEAN",
    "method": "VARCHAR",
    "actual_units": "DOUBLE",
    "predicted_units": "DOUBLE",
}

# Accuracy per method and segment (promoted, non_promoted, all): overall, per horizon and per
# series. Sums are kept beside the ratios so roll-ups add parts.
BACKTEST_METRICS: dict[str, str] = {
    "scope": "VARCHAR",
    "item_id": "VARCHAR",
    "location_id": "VARCHAR",
    "horizon_weeks": "INTEGER",
    "method": "VARCHAR",
    "segment": "VARCHAR",
    "points": "INTEGER",
    "actual_units": "DOUBLE",
    "abs_error_units": "DOUBLE",
    "error_units": "DOUBLE",
    "wape": "DOUBLE",
    "bias": "DOUBLE",
    "mase": "DOUBLE",
    "rmse_units": "DOUBLE",
    "first_origin_date": "DATE",
    "last_origin_date": "DATE",
    "model_version": "VARCHAR",
}

_PANDAS_DTYPES = {
    "VARCHAR": "str",
    "DATE": "object",
    "BOOLEAN": "bool",
    "DOUBLE": "float64",
    "INTEGER": "int32",
}


def conform(frame: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """Return `frame` with exactly the schema's columns, in order, cast to matching dtypes."""
    missing = [name for name in schema if name not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing} required by the table schema")
    out = frame.loc[:, list(schema)].copy()
    for name, sql_type in schema.items():
        if sql_type == "DATE":
            out[name] = [_as_date(v) for v in out[name]]
            out[name] = out[name].astype("object")
        elif sql_type == "INTEGER" and out[name].isna().any():
            out[name] = out[name].astype("Int32")  # nullable: NULL stays NULL
        else:
            out[name] = out[name].astype(_PANDAS_DTYPES[sql_type])
    return out.reset_index(drop=True)


def _as_date(value: object) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    return pd.Timestamp(value).date()


def empty_frame(schema: dict[str, str]) -> pd.DataFrame:
    """An empty frame with the schema's columns and dtypes."""
    return conform(pd.DataFrame({name: [] for name in schema}), schema)
