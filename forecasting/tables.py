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
}

# Not a warehouse table: the per-series residual spread handed to replenishment.
RESIDUAL_SIGMA: dict[str, str] = {
    "item_id": "VARCHAR",
    "location_id": "VARCHAR",
    "residual_sigma_units": "DOUBLE",
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
