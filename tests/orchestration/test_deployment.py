"""The Dagster deployment: the instance `retailops` installs, the asset catalog a planner reads,
the schedules, and the alert sensors (run failures of every job, stale marts)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import AssetKey

# Loading the Dagster definitions needs the dbt manifest (parsed once per session).
pytestmark = pytest.mark.usefixtures("dbt_manifest")

LAYERS = {"landing", "raw", "staging", "intermediate", "marts", "forecast", "writeback", "bi"}
OWNERS = {"team:data-engineering", "team:finance", "team:retail-operations", "team:planning"}


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def project_instance(dagster_home: Path):
    """A DagsterInstance on the dagster.yaml `retailops` installs (sqlite storage in a temp folder)."""
    from dagster import DagsterInstance

    from orchestration.cli import _prepare_dagster_home

    _prepare_dagster_home()
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        yield instance


def _graph():
    from orchestration.definitions import defs

    return defs.resolve_asset_graph()


# --- the instance ---------------------------------------------------------------------------


def test_installed_instance_queues_runs_and_gives_the_warehouse_pool_one_slot(project_instance) -> None:
    from dagster._core.instance.config import PoolGranularity
    from dagster._core.run_coordinator import QueuedRunCoordinator

    assert isinstance(project_instance.run_coordinator, QueuedRunCoordinator)
    concurrency = project_instance.get_concurrency_config()
    assert concurrency.run_queue_config.max_concurrent_runs == 1
    assert concurrency.pool_config.default_pool_limit == 1
    assert concurrency.pool_config.pool_granularity == PoolGranularity.OP
    assert project_instance.run_retries_enabled and project_instance.run_retries_max_retries == 1
    assert not project_instance.run_retries_retry_on_asset_or_op_failure
    assert project_instance.run_monitoring_enabled
    assert not project_instance.telemetry_enabled
    assert "QUEUED_RUN_COORDINATOR" in project_instance.get_required_daemon_types()


def test_two_runs_cannot_hold_the_warehouse_pool_at_once(project_instance) -> None:
    """The limit is real: a second run's step waits until the first run's step frees the slot."""
    from dagster import DagsterRun
    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
    from dagster._core.utils import make_new_run_id

    from orchestration.resources import WAREHOUSE_POOL

    first, second = (DagsterRun(job_name="retailops_main", run_id=make_new_run_id()) for _ in range(2))
    with InstanceConcurrencyContext(project_instance, first) as one, \
            InstanceConcurrencyContext(project_instance, second) as other:
        assert one.claim(WAREHOUSE_POOL, "raw__pos__sales")
        assert not other.claim(WAREHOUSE_POOL, "dbt_before_forecast")
        one.free_step("raw__pos__sales")
        other._pending_timeouts.clear()  # look again now rather than after the back-off interval
        assert other.claim(WAREHOUSE_POOL, "dbt_before_forecast")
        other.free_step("dbt_before_forecast")
    assert project_instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 1


def test_prepare_dagster_home_replaces_its_own_config_and_keeps_a_users(dagster_home: Path, capsys) -> None:
    from orchestration.cli import _LEGACY_INSTANCE_CONFIG, INSTANCE_CONFIG, _prepare_dagster_home

    dagster_home.mkdir(parents=True)
    installed = dagster_home / "dagster.yaml"
    installed.write_text(_LEGACY_INSTANCE_CONFIG)  # what earlier versions wrote
    assert _prepare_dagster_home() == installed
    assert installed.read_text() == INSTANCE_CONFIG.read_text()
    installed.write_text(INSTANCE_CONFIG.read_text().replace("max_concurrent_runs: 1", "max_concurrent_runs: 5"))
    _prepare_dagster_home()  # an older copy of the project's file: brought up to date
    assert installed.read_text() == INSTANCE_CONFIG.read_text()
    own = "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 3\n"
    installed.write_text(own)
    _prepare_dagster_home()
    assert installed.read_text() == own
    assert f"{installed} is not the project's" in capsys.readouterr().err


# --- the asset catalog ----------------------------------------------------------------------


def test_every_asset_has_a_layer_group_and_an_owner() -> None:
    graph = _graph()
    groups = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        groups.setdefault(node.group_name, set()).add(key.to_user_string())
        assert node.owners and set(node.owners) <= OWNERS, (key.to_user_string(), node.owners)
    assert set(groups) == LAYERS
    assert "marts/fct_promotion_summary" in groups["marts"] and "raw/pos__sales" in groups["raw"]
    assert graph.get(AssetKey(["marts", "fct_promotion_summary"])).owners == ["team:finance"]
    assert graph.get(AssetKey(["marts", "fct_exceptions"])).owners == ["team:retail-operations"]
    assert graph.get(AssetKey(["forecast", "replenishment_targets"])).owners == ["team:planning"]


def test_dbt_assets_carry_descriptions_columns_and_the_hash_of_their_sql() -> None:
    from orchestration.lib.paths import DBT_PROJECT_DIR

    node = _graph().get(AssetKey(["marts", "fct_promotion_summary"]))
    assert node.description.startswith("Promotion profitability per approved promotion")
    columns = {c.name: c for c in node.metadata["dagster/column_schema"].columns}
    assert columns["incremental_gross_margin"].type == "decimal(18,4)"
    assert columns["roi"].description
    # dagster-dbt's code version: the SHA-1 of the model's SQL as dbt read it (without the final newline).
    sql = (DBT_PROJECT_DIR / "models" / "marts" / "fct_promotion_summary.sql").read_text()
    assert node.code_version == hashlib.sha1(sql.strip().encode()).hexdigest()


def test_python_assets_have_a_code_version_that_follows_their_source(tmp_path: Path, monkeypatch) -> None:
    import sys

    from orchestration.lib.code_version import source_version

    graph = _graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            assert node.code_version, key.to_user_string()
    assert graph.get(AssetKey(["forecast", "demand_weekly"])).code_version == source_version("forecasting")
    package = tmp_path / "pkg_for_code_version"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text("LIFT = 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = source_version("pkg_for_code_version")
    assert source_version("pkg_for_code_version") == before
    (package / "model.py").write_text("LIFT = 1.1\n")
    assert source_version("pkg_for_code_version") != before
    assert "pkg_for_code_version" not in sys.modules  # hashed from the files, not imported


def test_every_step_that_opens_the_warehouse_is_in_the_warehouse_pool() -> None:
    """Assets and checks that take the warehouse (or run dbt against it) claim `duckdb_writer`."""
    from orchestration.definitions import defs
    from orchestration.resources import WAREHOUSE_POOL

    repository = defs.get_repository_def()
    steps = {}
    for assets_def in repository.asset_graph.assets_defs:  # assets and asset checks
        if assets_def.is_executable:
            steps[assets_def.node_def.name] = assets_def
    touching = {name for name, d in steps.items() if {"warehouse", "dbt"} & set(d.required_resource_keys)}
    assert {"dbt_before_forecast", "dbt_after_forecast", "demand_forecast", "forecast_backtest",
            "forecast__replenishment_targets", "raw__pos__sales", "bi__marts_snapshot",
            "writeback__erp_outbound_files", "raw__pos__sales_rows_conserved", "pos__sales_expectations",
            "ops__misplaced_landing_files"} <= touching
    outside = {name: steps[name].node_def.pool for name in touching if steps[name].node_def.pool != WAREHOUSE_POOL}
    assert outside == {}


# --- schedules and sensors ------------------------------------------------------------------


def test_weekly_schedule_refits_the_forecast_and_rebuilds_what_reads_it() -> None:
    from orchestration.definitions import defs

    repository = defs.get_repository_def()
    schedule = repository.get_schedule_def("retailops_forecast_weekly")
    assert schedule.job_name == "retailops_forecast_weekly" and schedule.cron_schedule == "0 4 * * 1"
    selected = {k.to_user_string() for k in defs.resolve_job_def(schedule.job_name).asset_layer.selected_asset_keys}
    forecast = {k.to_user_string() for k in _graph().get_all_asset_keys() if k.path[0] == "forecast"}
    assert forecast <= selected
    assert {"marts/fct_promotion_profitability", "marts/fct_stock_exposure", "bi/marts_snapshot"} <= selected
    assert not {name for name in selected if name.split("/")[0] in ("landing", "raw", "staging", "writeback")}
    assert "marts/fct_sell_through" not in selected  # built before the forecast: the nightly job's


def test_default_statuses_and_the_main_cron_from_the_environment(monkeypatch) -> None:
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    from orchestration.definitions import defs
    from orchestration.schedules import ENV_MAIN_CRON, daily_schedule

    repository = defs.get_repository_def()
    schedules = {s.name: s.default_status for s in repository.schedule_defs}
    assert schedules == {
        "retailops_main_daily": DefaultScheduleStatus.RUNNING,
        "retailops_forecast_weekly": DefaultScheduleStatus.RUNNING,
        "retailops_writeback_replenishment_daily": DefaultScheduleStatus.STOPPED,
        "retailops_writeback_uplift_daily": DefaultScheduleStatus.STOPPED,
    }
    sensors = {s.name: s.default_status for s in repository.sensor_defs}
    assert sensors == {
        "landing_sensor": DefaultSensorStatus.RUNNING,
        "retailops_approved_promotions": DefaultSensorStatus.STOPPED,
        "retailops_run_failure_alert": DefaultSensorStatus.RUNNING,
        "retailops_stale_marts_alert": DefaultSensorStatus.RUNNING,
    }
    assert repository.get_schedule_def("retailops_main_daily").cron_schedule == "0 2 * * *"
    monkeypatch.setenv(ENV_MAIN_CRON, "*/5 * * * *")
    assert daily_schedule().cron_schedule == "*/5 * * * *"


def test_every_mart_has_the_freshness_policy_and_goes_stale_after_a_missed_night() -> None:
    import asyncio

    from dagster import AssetMaterialization, DagsterInstance
    from dagster._core.definitions.freshness import FreshnessState
    from dagster._core.definitions.freshness_evaluator import CronFreshnessPolicyEvaluator
    from dagster._core.loader import LoadingContextForTest
    from dagster._core.test_utils import freeze_time

    from orchestration.bi import MART_KEYS
    from orchestration.dbt import MARTS_FRESHNESS

    graph = _graph()
    marts = {k for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    assert marts == set(MART_KEYS) and len(marts) == 12
    for key in marts:
        assert graph.get(key).freshness_policy == MARTS_FRESHNESS, key
    assert not [k for k in graph.get_all_asset_keys() if k.path[0] != "marts" and graph.get(k).freshness_policy]

    key = AssetKey(["marts", "fct_promotion_summary"])

    def state(at: datetime) -> FreshnessState:
        with freeze_time(at):
            return asyncio.run(CronFreshnessPolicyEvaluator().evaluate_freshness(
                LoadingContextForTest(instance), graph.get(key)))

    with DagsterInstance.ephemeral() as instance:
        built = datetime(2026, 3, 2, 2, 40, tzinfo=UTC)  # the 02:00 build finished at 02:40
        with freeze_time(built):
            instance.report_runless_asset_event(AssetMaterialization(key))
        assert state(built + timedelta(hours=5)) == FreshnessState.PASS  # 07:40, after the 06:00 deadline
        assert state(built + timedelta(days=1, hours=3)) == FreshnessState.PASS  # next day 05:40: before it
        assert state(built + timedelta(days=1, hours=4)) == FreshnessState.FAIL  # 06:40: missed a night


def _alert_env(monkeypatch, tmp_path: Path) -> Path:
    """Every variable the top-level resources read, pointing the alert log into tmp_path."""
    from orchestration.lib.paths import ENV_LANDING, ENV_OUTBOUND, ENV_WAREHOUSE
    from writeback.settings import DEFAULTS, ENV_ALERT_LOG, ENV_ALERT_WEBHOOK

    for name, value in DEFAULTS.items():
        monkeypatch.setenv(name, value)
    log = tmp_path / "logs" / "alerts.log"
    monkeypatch.setenv(ENV_ALERT_LOG, str(log))
    monkeypatch.setenv(ENV_ALERT_WEBHOOK, "")
    monkeypatch.setenv(ENV_WAREHOUSE, str(tmp_path / "missing" / "retail.duckdb"))
    monkeypatch.setenv(ENV_LANDING, str(tmp_path / "landing"))
    monkeypatch.setenv(ENV_OUTBOUND, str(tmp_path / "outbound"))
    return log


def test_run_failure_sensor_alerts_for_runs_of_any_job_however_started(project_instance, tmp_path: Path,
                                                                          monkeypatch) -> None:
    """The daemon evaluates the sensor inside the code location; `retailops run`'s runs carry none."""
    from dagster import SensorEvaluationContext
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from orchestration.alerts import run_failure_alert
    from orchestration.definitions import defs
    from writeback.settings import ENV_MAX_CHANGE_PCT

    log = _alert_env(monkeypatch, tmp_path)
    resources = defs.get_repository_def().get_top_level_resources()
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="orchestration.definitions"),
                                         location_name="orchestration.definitions")

    def tick(cursor: str | None):
        context = SensorEvaluationContext(
            instance_ref=None, last_tick_completion_time=None, last_run_key=None, cursor=cursor,
            repository_name="__repository__", instance=project_instance, sensor_name=run_failure_alert.name,
            resources=resources, code_location_origin=origin,
        )
        return run_failure_alert.evaluate_tick(context).cursor

    cursor = tick(None)  # the first tick only sets the cursor
    # Two jobs that fail at once: the weekly refit (no warehouse yet), a writeback (a bad threshold).
    monkeypatch.setenv(ENV_MAX_CHANGE_PCT, "lots")
    failed = [
        defs.resolve_job_def(job).execute_in_process(instance=project_instance, raise_on_error=False)
        for job in ("retailops_forecast_weekly", "retailops_writeback_replenishment")
    ]
    assert not any(result.success for result in failed)
    tick(cursor)
    alerts = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(a["alert"], a["job_name"], a["run_id"]) for a in alerts] == [
        ("run_failure", result.dagster_run.job_name, result.run_id) for result in failed
    ]
    assert sorted(alerts[0]["failed_steps"]) == ["demand_forecast", "forecast_backtest"]
    assert alerts[1]["failed_steps"] == ["writeback__erp_outbound_files"]


def test_stale_marts_sensor_alerts_once_per_stale_spell(tmp_path: Path, monkeypatch) -> None:
    from dagster import DagsterInstance, SensorResult, build_sensor_context
    from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

    from orchestration.alerts import AlertResource, stale_marts_alert

    log = tmp_path / "alerts.log"
    resources = {"alerts": AlertResource(log_path=str(log), webhook_url="")}
    summary, sell_through = AssetKey(["marts", "fct_promotion_summary"]), AssetKey(["marts", "fct_sell_through"])

    def report(key: AssetKey, new: FreshnessState, previous: FreshnessState) -> None:
        instance.report_runless_asset_event(FreshnessStateChange(
            key=key, new_state=new, previous_state=previous, state_change_timestamp=datetime.now(UTC).timestamp()))

    def tick(cursor: str | None) -> SensorResult:
        return stale_marts_alert(build_sensor_context(instance=instance, resources=resources, cursor=cursor))

    def alerted() -> list[str]:
        return [json.loads(line)["asset_key"] for line in log.read_text().splitlines()] if log.exists() else []

    with DagsterInstance.ephemeral() as instance:
        report(summary, FreshnessState.PASS, FreshnessState.UNKNOWN)
        report(sell_through, FreshnessState.PASS, FreshnessState.UNKNOWN)
        first = tick(None)
        assert alerted() == []
        report(summary, FreshnessState.FAIL, FreshnessState.PASS)
        second = tick(first.cursor)
        assert alerted() == ["marts/fct_promotion_summary"]
        third = tick(second.cursor)  # still stale: no second alert
        assert alerted() == ["marts/fct_promotion_summary"]
        report(summary, FreshnessState.PASS, FreshnessState.FAIL)  # rebuilt ...
        fourth = tick(third.cursor)
        report(summary, FreshnessState.FAIL, FreshnessState.PASS)  # ... and stale again: a new spell
        tick(fourth.cursor)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["asset_key"] for line in lines] == ["marts/fct_promotion_summary"] * 2
    assert lines[0]["alert"] == "stale_asset" and lines[0]["last_updated_at"] == ""
    assert lines[0]["expectation"] == "rebuilt in the 24 hours before each tick of '0 6 * * *' (UTC)"

