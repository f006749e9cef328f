"""The forecasting assets' place in the graph: the backtest feeds replenishment, dbt reads the forecast."""

from __future__ import annotations

import pytest

# Loading the Dagster definitions needs the dbt manifest (parsed once per session).
pytestmark = pytest.mark.usefixtures("dbt_manifest")


def _parents(key: str) -> set[str]:
    from dagster import AssetKey

    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    return {parent.to_user_string() for parent in graph.get(AssetKey(key.split("/"))).parent_keys}


def test_backtest_reads_the_same_inputs_as_the_forecast():
    expected = {"intermediate/int_demand_weekly", "intermediate/int_promotion_weeks", "staging/stg_erp__items"}
    assert _parents("forecast/backtest_metrics") == expected
    assert _parents("forecast/backtest_points") == expected
    assert _parents("forecast/demand_weekly") == expected


def test_replenishment_sizes_safety_stock_on_the_backtest():
    parents = _parents("forecast/replenishment_targets")
    assert {"forecast/demand_weekly", "forecast/backtest_points"} <= parents
    assert "forecast/series_fit_log" not in parents  # the in-sample residual spread is gone


def test_stock_exposure_reads_the_forecast_after_it_is_built():
    assert {"forecast/demand_weekly", "forecast/replenishment_targets"} <= _parents("marts/fct_stock_exposure")


def test_the_main_job_runs_the_backtest():
    from dagster import AssetKey

    from orchestration.definitions import defs

    job = defs.resolve_job_def("retailops_main")
    keys = {node.name for node in job.graph.node_defs}
    assert "forecast_backtest" in keys
    assert AssetKey(["forecast", "backtest_metrics"]) in defs.resolve_asset_graph().get_all_asset_keys()
