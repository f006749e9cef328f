"""Alert sensors: every failed run, and every mart that went stale, appended to the alert log.

The log (`RETAILOPS_ALERT_LOG`, default logs/run_failures.log) is the one place an operator looks;
a webhook gets the same JSON when `RETAILOPS_ALERT_WEBHOOK_URL` is set. Both sensors are on from
the start: they only write alerts, they start no runs. The alert records and their delivery are
plain Python in orchestration/lib/alerts.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetKey,
    ConfigurableResource,
    DefaultSensorStatus,
    EnvVar,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    run_failure_sensor,
    sensor,
)

from orchestration.bi import MART_KEYS
from orchestration.dbt import MARTS_FRESHNESS
from orchestration.lib.alerts import RunFailureAlert, StaleAssetAlert, deliver_alert, newly_failing
from orchestration.writeback import ErpTargetResource
from writeback.settings import ENV_ALERT_LOG, ENV_ALERT_WEBHOOK, redact

STALE_MARTS_EXPECTATION = (
    f"rebuilt in the {MARTS_FRESHNESS.lower_bound_delta.total_seconds() / 3600:g} hours before each tick of "
    f"'{MARTS_FRESHNESS.deadline_cron}' ({MARTS_FRESHNESS.timezone})"
)


class AlertResource(ConfigurableResource):
    """Where alerts go: a log file always, a webhook when its URL is set."""

    log_path: str
    webhook_url: str


def alert_resource() -> AlertResource:
    return AlertResource(log_path=EnvVar(ENV_ALERT_LOG), webhook_url=EnvVar(ENV_ALERT_WEBHOOK))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@run_failure_sensor(
    name="retailops_run_failure_alert",
    # Every run this instance records, whoever started it: schedules, sensors, the UI, and the
    # in-process runs of `retailops run` (they carry no code location, so the default — runs of
    # this code location only — would miss them).
    monitor_all_code_locations=True,
    default_status=DefaultSensorStatus.RUNNING,
    description="Appends every failed run of every job to the alert log and posts it to the webhook if one is set.",
)
def run_failure_alert(context: RunFailureSensorContext, alerts: AlertResource, erp: ErpTargetResource) -> None:
    failed_steps = tuple(event.step_key for event in context.get_step_failure_events() if event.step_key)
    alert = RunFailureAlert(
        job_name=context.dagster_run.job_name,
        run_id=context.dagster_run.run_id,
        failed_at=_now(),
        message=redact(context.failure_event.message or "", erp.dsn),
        failed_steps=failed_steps,
    )
    deliver_alert(alert, Path(alerts.log_path), alerts.webhook_url)


def _last_updated(context: SensorEvaluationContext, key: AssetKey) -> str:
    event = context.instance.get_latest_materialization_event(key)
    return datetime.fromtimestamp(event.timestamp, UTC).isoformat(timespec="seconds") if event else ""


@sensor(
    name="retailops_stale_marts_alert",
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Appends an alert when a mart fails its freshness policy (the daemon evaluates the policies), "
                "once per stale spell.",
)
def stale_marts_alert(context: SensorEvaluationContext, alerts: AlertResource) -> SensorResult:
    records = context.instance.get_freshness_state_records(MART_KEYS)
    current = {key.to_user_string(): record.freshness_state.value for key, record in records.items()}
    previous = json.loads(context.cursor) if context.cursor else {}
    stale = newly_failing(previous, current)
    for name in stale:
        alert = StaleAssetAlert(asset_key=name, detected_at=_now(),
                                last_updated_at=_last_updated(context, AssetKey.from_user_string(name)),
                                expectation=STALE_MARTS_EXPECTATION)
        deliver_alert(alert, Path(alerts.log_path), alerts.webhook_url)
    cursor = json.dumps(current, sort_keys=True)
    if stale:
        return SensorResult(cursor=cursor)
    return SensorResult(skip_reason=f"no mart newly stale ({sum(s == 'FAIL' for s in current.values())} stale)",
                        cursor=cursor)


alert_sensors = [run_failure_alert, stale_marts_alert]
