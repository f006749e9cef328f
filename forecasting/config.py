"""Settings for the weekly demand model, its backtest and the process pool (DESIGN §6)."""

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
    return f"weekly-pooled-lift+prophet-v2 (prophet {prophet_version})"


@dataclass(frozen=True)
class ForecastConfig:
    """How demand is forecast per item × location week; every field has a working default.

    The defaults were chosen on the Breakfast at the Frat backtest (docs/benchmarks.md,
    docs/decisions/0005-pooled-promotion-model.md).
    """

    horizon_weeks: int = 8
    interval_width: float = 0.8
    # --- the level: exponentially weighted mean of recent non-promoted weeks -----------------
    # 0.25 gives the last 7 non-promoted weeks 87% of the weight. Faster levels forecast
    # ordinary weeks a little better and promoted weeks worse, slower ones the reverse
    # (backtest on Breakfast at the Frat, 300-series sample, Prophet refitted every 13 origins:
    # alpha 0.2 / 0.25 / 0.3 → non-promoted WAPE 0.313 / 0.310 / 0.309, promoted 0.316 / 0.317 /
    # 0.319; all series with the defaults: docs/benchmarks.md).
    level_alpha: float = 0.25
    # --- pooled promotion effects ------------------------------------------------------------
    # Ridge penalty pulling an item's effect towards its category's (and the category's towards
    # no effect); in units of Poisson information, so it only matters for thinly promoted items.
    effect_ridge: float = 1.0
    # A store's own promoted weeks move its lift away from the item's by k = (actual + m·p̄) ÷
    # (expected + m·p̄): m pseudo-weeks of evidence that the store behaves like the item.
    store_pseudo_weeks: float = 5.0
    # Below this many promoted training weeks an item's effect is flagged as borrowed.
    min_promoted_weeks: int = 10
    # --- the Prophet member ------------------------------------------------------------------
    # Share of Prophet's forecast in promoted weeks; the pooled model has the rest, and all of
    # the non-promoted weeks, where Prophet alone was 77% worse than the recent level (docs/benchmarks.md).
    prophet_weight: float = 0.25
    # Gates for fitting Prophet at all; a series failing them is forecast by the pooled model
    # alone and flagged in forecast.series_fit_log.
    min_history_weeks: int = 26
    min_nonzero_weeks: int = 13
    # Prophet can only separate a yearly cycle from trend with two full years of weeks.
    yearly_seasonality_min_weeks: int = 104
    # Prophet's default of 10 harmonics lets the yearly curve bend within ~5 weeks, enough to
    # soak up isolated promotion spikes in 2-3 years of weekly data; 6 keeps the season smooth.
    yearly_fourier_order: int = 6
    # Priors on Prophet's multiplicative promotion coefficients (lift per unit of input).
    discount_prior_scale: float = 3.0
    feature_display_prior_scale: float = 1.0
    changepoint_prior_scale: float = 0.05
    # --- the backtest ------------------------------------------------------------------------
    backtest_origins: int = 26
    backtest_horizon_weeks: int = 4
    # Prophet is refitted every this many origins in the backtest (the pooled model at every
    # origin); between refits its forecast comes from the last fit, as a job refitting Prophet
    # half-yearly would use it. With 26 origins: one fit per series. On the 300-series sample
    # (an exploration run), refitting every 13 origins instead (twice the Prophet time) moved
    # promoted WAPE by 0.002.
    backtest_prophet_refit_weeks: int = 26
    # Weeks of non-promoted history averaged by the mean benchmarks.
    benchmark_recent_weeks: int = 8
    # --- execution ---------------------------------------------------------------------------
    workers: int = field(default_factory=_default_workers)
    # Series sent to a worker process at a time, to amortise pickling and start-up.
    batch_size: int = 50
    model_version: str = field(default_factory=_default_model_version)
    random_seed: int = 20240601

    def __post_init__(self) -> None:
        checks = [
            ("horizon_weeks", self.horizon_weeks >= 1, "must be >= 1"),
            ("interval_width", 0 < self.interval_width < 1, "must be between 0 and 1"),
            ("level_alpha", 0 < self.level_alpha <= 1, "must be in (0, 1]"),
            ("prophet_weight", 0 <= self.prophet_weight <= 1, "must be between 0 and 1"),
            ("effect_ridge", self.effect_ridge > 0, "must be > 0"),
            ("store_pseudo_weeks", self.store_pseudo_weeks >= 0, "must be >= 0"),
            ("workers", self.workers >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("backtest_origins", self.backtest_origins >= 1, "must be >= 1"),
            ("backtest_horizon_weeks", self.backtest_horizon_weeks >= 1, "must be >= 1"),
            ("backtest_prophet_refit_weeks", self.backtest_prophet_refit_weeks >= 1, "must be >= 1"),
            ("benchmark_recent_weeks", self.benchmark_recent_weeks >= 1, "must be >= 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"ForecastConfig.{name} {expected}, got {getattr(self, name)!r}")
