"""Under `retailops ui` the daemon runs too: a file dropped into the landing folder and a schedule's
tick start runs by themselves, recorded in the instance `retailops` installed.

The nightly schedule's cron comes from RETAILOPS_MAIN_CRON; here it is every minute, so a tick
comes within the test. Runs are observed in the instance's run storage (the same sqlite files the
UI reads); the test stops the UI, and the runs it started, once both were seen.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from orchestration.lib.paths import SEEDS_DIR
from tests.retailops_ui import retailops_ui

pytestmark = pytest.mark.slow

SENSOR_TAG = "dagster/sensor_name"
SCHEDULE_TAG = "dagster/schedule_name"
DEADLINE_SECONDS = 240


def _wait_for(what: str, deadline: float, probe, log: Path):
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}; `retailops ui` output ends:\n{tail}")


def _graphql(port: int, query: str, variables: dict | None = None) -> dict | None:
    """The answer of the UI's GraphQL API, or None while it is not up yet."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["data"]
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _healthy_daemons(port: int) -> set[str]:
    data = _graphql(port, "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")
    if not data:
        return set()
    return {d["daemonType"] for d in data["instance"]["daemonHealth"]["allDaemonStatuses"] if d["healthy"]}


def _runs(port: int, tag: str, value: str) -> list[dict]:
    query = ("query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results "
             "{ runId jobName status creationTime tags { key value } } } } }")
    data = _graphql(port, query, {"filter": {"tags": [{"key": tag, "value": value}]}})
    return data["runsOrError"]["results"] if data else []


def test_landing_sensor_and_schedule_start_runs_under_retailops_ui(tmp_path: Path) -> None:
    home, landing = tmp_path / "dagster_home", tmp_path / "landing"
    # One extract has landed that the (not yet built) warehouse has not loaded: the sensor's first
    # tick must ask for a run. It lands before the UI starts so that no scheduled run, which loads
    # every new file too, can load it first (the sensor then rightly starts nothing).
    source = next((SEEDS_DIR / "erp" / "items").glob("*/*.csv"))
    target = landing / "erp" / "items" / source.parent.name / source.name
    target.parent.mkdir(parents=True)
    shutil.copy2(source, target)  # an old modification time: settled
    log = tmp_path / "ui.log"
    env = dict(
        os.environ, DAGSTER_HOME=str(home), RETAILOPS_LANDING_DIR=str(landing),
        RETAILOPS_WAREHOUSE=str(tmp_path / "warehouse" / "retail.duckdb"),
        RETAILOPS_OUTBOUND_DIR=str(tmp_path / "outbound"), RETAILOPS_ALERT_LOG=str(tmp_path / "alerts.log"),
        RETAILOPS_MAIN_CRON="* * * * *",
    )
    started = time.time()
    with retailops_ui(env, log) as (port, _process):
        deadline = time.monotonic() + DEADLINE_SECONDS
        # Everything is read through the UI's GraphQL API: opening the instance's sqlite files from
        # here while `dagster dev` creates them would race its schema migration.
        sensor_runs = _wait_for("a run started by landing_sensor", deadline,
                                lambda: _runs(port, SENSOR_TAG, "landing_sensor"), log)
        schedule_runs = _wait_for("a run started by retailops_main_daily", deadline,
                                  lambda: _runs(port, SCHEDULE_TAG, "retailops_main_daily"), log)
        daemons = _healthy_daemons(port)
    assert {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING", "EVENT_LOG_CONSUMER"} <= daemons
    (sensor_run,) = sensor_runs
    tags = {tag["key"]: tag["value"] for tag in sensor_run["tags"]}
    assert sensor_run["jobName"] == "retailops_main"
    extract_date = source.parent.name
    assert tags["dagster/asset_partition_range_start"] == tags["dagster/asset_partition_range_end"] == extract_date
    assert all(run["jobName"] == "retailops_main" for run in schedule_runs)
    assert started < min(run["creationTime"] for run in [*sensor_runs, *schedule_runs])
    assert (home / "dagster.yaml").read_text().startswith("# retailops: Dagster instance settings")
