"""Demand forecasting, promotion uplift and replenishment maths (pure Python, no Dagster).

The orchestration layer reads intermediate.int_demand_weekly and int_promotion_weeks, calls
`forecast_all` and `replenishment_targets`, and writes the frames into the forecast schema
(column types in `forecasting.tables`).
"""

from forecasting.config import ForecastConfig
from forecasting.demand import FALLBACK_MEAN, PROPHET, SeriesForecast, forecast_series
from forecasting.pool import ForecastResult, forecast_all, promotion_uplift
from forecasting.replenishment import replenishment_targets

__all__ = [
    "FALLBACK_MEAN",
    "PROPHET",
    "ForecastConfig",
    "ForecastResult",
    "SeriesForecast",
    "forecast_all",
    "forecast_series",
    "promotion_uplift",
    "replenishment_targets",
]
