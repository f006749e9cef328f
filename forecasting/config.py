"""Settings for the weekly demand forecast (DESIGN §6)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version


def _default_workers() -> int:
    return os.cpu_count() or 1


def _default_model_version() -> str:
    try:
        prophet_version = version("prophet")
    except PackageNotFoundError:  # pragma: no cover - prophet is a project dependency
        prophet_version = "unknown"
    return f"weekly-prophet-promo-v1 (prophet {prophet_version})"


@dataclass(frozen=True)
class ForecastConfig:
    """How demand is forecast per item × location week; every field has a working default."""

    horizon_weeks: int = 8
    # Gates for Prophet; a series failing them gets the flagged 'fallback_mean' method.
    min_history_weeks: int = 26
    min_nonzero_weeks: int = 13
    interval_width: float = 0.8
    # Prophet can only separate a yearly cycle from trend with two full years of weeks.
    yearly_seasonality_min_weeks: int = 104
    # Prophet's default of 10 harmonics lets the yearly curve bend within ~5 weeks, enough to
    # soak up isolated promotion spikes in 2-3 years of weekly data; 6 keeps the season smooth.
    yearly_fourier_order: int = 6
    # Priors on the multiplicative promotion coefficients (lift per unit of input).
    # Discount depth is a fraction of the regular price, so a coefficient of 2 means a 25%
    # discount lifts sales by 50%; real price elasticities of promoted groceries sit around
    # 1-5, so the prior sd of 3 only stops a handful of promoted weeks from producing absurd
    # lifts. Feature and display are on/off flags whose lifts are rarely above +100%.
    discount_prior_scale: float = 3.0
    feature_display_prior_scale: float = 1.0
    changepoint_prior_scale: float = 0.05
    uncertainty_samples: int = 500
    # Weeks of non-promoted history averaged by the fallback method.
    fallback_recent_weeks: int = 8
    workers: int = field(default_factory=_default_workers)
    # Series sent to a worker process at a time, to amortise pickling and start-up.
    batch_size: int = 50
    model_version: str = field(default_factory=_default_model_version)
    random_seed: int = 20240601

    def __post_init__(self) -> None:
        if self.horizon_weeks < 1:
            raise ValueError(f"ForecastConfig.horizon_weeks must be >= 1, got {self.horizon_weeks}")
        if not 0 < self.interval_width < 1:
            raise ValueError(f"ForecastConfig.interval_width must be between 0 and 1, got {self.interval_width}")
        if self.workers < 1:
            raise ValueError(f"ForecastConfig.workers must be >= 1, got {self.workers}")
        if self.batch_size < 1:
            raise ValueError(f"ForecastConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.fallback_recent_weeks < 1:
            raise ValueError(f"ForecastConfig.fallback_recent_weeks must be >= 1, got {self.fallback_recent_weeks}")
