"""Run an entity's suite with Great Expectations 1.x and turn the results into Dagster asset check results.

GX takes seconds to import, so it is imported on first use, and one ephemeral context is kept for
the process. The batch is read from DuckDB into pandas: GX 1.x's SQL engine does not support
DuckDB (its results are read after the connection is closed), and dagster-ge supports only GX < 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import duckdb

from expectations.suites import CRITICAL, WARNING, EntitySuite

SAMPLE_SIZE = 10


@dataclass
class ExpectationOutcome:
    """One expectation's result on one batch."""

    expectation: str
    columns: str
    severity: str
    description: str
    success: bool
    unexpected_count: int = 0
    unexpected_percent: float = 0.0
    sample: list[Any] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.expectation}({self.columns})"


@dataclass
class SuiteResult:
    suite: str
    rows_validated: int
    outcomes: list[ExpectationOutcome]

    def failed(self, severity: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.severity == severity and not o.success]

    def passed(self, severity: str) -> bool:
        return not self.failed(severity)


@lru_cache(maxsize=1)
def _batch_definition():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("raw_batches").add_dataframe_asset("rows")
    return context, asset.add_batch_definition_whole_dataframe("whole_batch")


def _gx_suite(suite: EntitySuite):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = [
        getattr(gxe, spec.expectation)(**spec.kwargs, meta={"severity": spec.severity, "index": index})
        for index, spec in enumerate(suite.expectations)
    ]
    return gx.ExpectationSuite(name=suite.name, expectations=expectations)


def _plain(value: Any) -> Any:
    """A sample value as something JSON can hold (numpy scalars, timestamps, tuples of them)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def run_suite(con: duckdb.DuckDBPyConnection, suite: EntitySuite, load_id: str | None = None) -> SuiteResult:
    """Validate the rows `load_id` added to the entity's raw table (all rows when None)."""
    sql, params = suite.batch_sql(load_id)
    frame = con.execute(sql, params).df()
    if frame.empty:
        return SuiteResult(suite.name, 0, [
            ExpectationOutcome(spec.expectation, spec.columns, spec.severity, spec.description, True)
            for spec in suite.expectations
        ])
    _, batch_definition = _batch_definition()
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
        _gx_suite(suite), result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    )
    outcomes = []
    for validation in result.results:
        spec = suite.expectations[validation.expectation_config.meta["index"]]
        details = validation.result or {}
        error = None
        info = validation.exception_info or {}
        if info.get("raised_exception"):
            error = str(info.get("exception_message"))
        outcomes.append(ExpectationOutcome(
            spec.expectation, spec.columns, spec.severity, spec.description, bool(validation.success),
            int(details.get("unexpected_count") or 0), float(details.get("unexpected_percent") or 0.0),
            [_plain(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]], error,
        ))
    return SuiteResult(suite.name, len(frame), outcomes)


def check_metadata(result: SuiteResult, severity: str) -> dict[str, Any]:
    """Asset check metadata for one severity: counts, and per failed expectation its unexpected count and samples."""
    outcomes = [o for o in result.outcomes if o.severity == severity]
    metadata: dict[str, Any] = {
        "suite": result.suite,
        "rows_validated": result.rows_validated,
        "expectations": len(outcomes),
        "failed": len([o for o in outcomes if not o.success]),
    }
    for outcome in outcomes:
        if outcome.success:
            continue
        metadata[outcome.label] = {
            "description": outcome.description,
            "unexpected_count": outcome.unexpected_count,
            "unexpected_percent": round(outcome.unexpected_percent, 4),
            "sample_values": outcome.sample,
            **({"error": outcome.error} if outcome.error else {}),
        }
    return metadata


def to_asset_check_results(asset_key, result: SuiteResult) -> list:
    """Two Dagster check results: `expectations_critical` (ERROR, blocking) and `expectations_warnings` (WARN)."""
    from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

    results = []
    for name, severity, level in (("expectations_critical", CRITICAL, AssetCheckSeverity.ERROR),
                                  ("expectations_warnings", WARNING, AssetCheckSeverity.WARN)):
        metadata = {
            key: MetadataValue.json(value) if isinstance(value, dict) else value
            for key, value in check_metadata(result, severity).items()
        }
        results.append(AssetCheckResult(asset_key=asset_key, check_name=name, passed=result.passed(severity),
                                        severity=level, metadata=metadata))
    return results
