"""`retailops ui` serves Dagster's UI on 127.0.0.1 with the whole lineage, landing to writeback."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from tests.retailops_ui import retailops_ui

pytestmark = pytest.mark.slow

QUERY = '{ assetNodes { assetKey { path } dependencyKeys { path } } }'


def _asset_graph(port: int, deadline: float) -> dict[str, set[str]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                nodes = json.load(response)["data"]["assetNodes"]
            return {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
        except (OSError, KeyError, TypeError) as exc:  # not up yet, or definitions still loading
            last_error = exc
            time.sleep(1)
    raise AssertionError(f"Dagster UI did not answer on port {port}: {last_error}")


def test_ui_serves_the_whole_lineage(tmp_path: Path) -> None:
    # An empty landing folder: the landing sensor, on from the start, finds nothing to build.
    (tmp_path / "landing").mkdir()
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), RETAILOPS_WAREHOUSE=str(tmp_path / "w.duckdb"),
               RETAILOPS_LANDING_DIR=str(tmp_path / "landing"))
    with retailops_ui(env) as (port, _process):
        graph = _asset_graph(port, time.monotonic() + 120)
    chain = [
        "landing/pos__sales", "raw/pos__sales", "staging/stg_pos__sales", "intermediate/int_demand_weekly",
        "forecast/promotion_uplift", "writeback/erp_outbound_files",
    ]
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        assert upstream in graph[downstream], f"{downstream} does not depend on {upstream} in the UI"
    assert "forecast/demand_weekly" in graph["marts/fct_promotion_profitability"]
    assert "raw/pos__sales" in graph["staging/stg_pos__sales"]
