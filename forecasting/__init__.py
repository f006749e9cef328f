"""Demand forecasting, promotion uplift, backtest and replenishment maths (pure Python, no Dagster).

The orchestration layer reads intermediate.int_demand_weekly and int_promotion_weeks, calls
`forecast_all`, `run_backtest` and `replenishment_targets`, and writes the frames into the
forecast schema (column types in `forecasting.tables`).
"""

from forecasting.backtest import BacktestResult, run_backtest
from forecasting.config import ForecastConfig
from forecasting.pool import POOLED, POOLED_WITH_PROPHET, ForecastResult, forecast_all, promotion_uplift
from forecasting.replenishment import replenishment_targets

__all__ = [
    "POOLED",
    "POOLED_WITH_PROPHET",
    "BacktestResult",
    "ForecastConfig",
    "ForecastResult",
    "forecast_all",
    "promotion_uplift",
    "replenishment_targets",
    "run_backtest",
]
