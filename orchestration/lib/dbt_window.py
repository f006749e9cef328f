"""Date windows for incremental dbt builds: a Dagster daily partition → dbt's min_date / max_date vars."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class DateWindow:
    """The days whose extracts changed; the incremental models rebuild what these days can affect."""

    min_date: date
    max_date: date

    def __post_init__(self) -> None:
        if self.min_date > self.max_date:
            raise ValueError(f"date window starts on {self.min_date}, after its end {self.max_date}")

    @classmethod
    def parse(cls, min_date: str | None, max_date: str | None) -> DateWindow | None:
        """A window from ISO dates; None when both are missing (build every date)."""
        if min_date is None and max_date is None:
            return None
        if min_date is None or max_date is None:
            raise ValueError(f"a date window needs both min_date and max_date, got {min_date!r} and {max_date!r}")
        try:
            return cls(date.fromisoformat(min_date), date.fromisoformat(max_date))
        except ValueError as exc:
            raise ValueError(f"date window {min_date!r} … {max_date!r}: {exc}") from exc

    def dbt_vars(self) -> dict[str, str]:
        return {"min_date": self.min_date.isoformat(), "max_date": self.max_date.isoformat()}


def window_for_partition(partition_key: str) -> DateWindow:
    """A daily partition key (YYYY-MM-DD) is a one-day window."""
    day = date.fromisoformat(partition_key)
    return DateWindow(day, day)


# dbt's unit tests check the SQL against hand-computed rows; they do not depend on the data, so
# the pipeline's builds leave them out (as dbt advises for production) and CI runs them
# (tests/dbt/test_dbt_build.py). Data tests still run on every build, as Dagster asset checks.
BUILD = ["build", "--exclude-resource-type", "unit_test"]


def dbt_build_args(window: DateWindow | None = None, full_refresh: bool = False) -> list[str]:
    """`dbt build` arguments: the window as --vars (none: every date), --full-refresh on request."""
    if window is not None and full_refresh:
        raise ValueError("a full refresh rebuilds every date; it takes no date window")
    args = list(BUILD)
    if window is not None:
        args += ["--vars", json.dumps(window.dbt_vars())]
    if full_refresh:
        args.append("--full-refresh")
    return args
