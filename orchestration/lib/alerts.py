"""Alerts: a JSON line appended to a log file, and a POST to a webhook when one is configured.

Two kinds, both written by sensors in orchestration/alerts.py: a run that failed (any job, however
it was started) and a mart that went stale (its freshness policy failed). The webhook URL often
carries a token: it is never written to the log or put in a message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True)
class RunFailureAlert:
    job_name: str
    run_id: str
    failed_at: str  # ISO 8601, UTC
    message: str
    failed_steps: tuple[str, ...] = ()

    kind: ClassVar[str] = "run_failure"

    def text(self) -> str:
        return f"retailops run failed: {self.job_name} ({self.run_id})"


@dataclass(frozen=True)
class StaleAssetAlert:
    asset_key: str  # e.g. "marts/fct_promotion_summary"
    detected_at: str  # ISO 8601, UTC
    last_updated_at: str  # ISO 8601, UTC; "" when never built
    expectation: str  # what the freshness policy asks, in words

    kind: ClassVar[str] = "stale_asset"

    def text(self) -> str:
        return f"retailops data is stale: {self.asset_key} ({self.expectation})"


Alert = RunFailureAlert | StaleAssetAlert


def newly_failing(previous: Mapping[str, str], current: Mapping[str, str], failing: str = "FAIL") -> list[str]:
    """Keys whose state is `failing` now and was not at the last look: each stale spell alerts once."""
    return sorted(key for key, state in current.items() if state == failing and previous.get(key) != failing)


def deliver_alert(alert: Alert, log_path: Path, webhook_url: str = "", timeout_seconds: float = 5.0) -> str:
    """Append the alert to `log_path` (always: the local record) and POST it to `webhook_url` if set.

    Returns how it was delivered. A webhook that fails is noted in the log line; it never raises,
    so an unreachable webhook cannot hide the alert.
    """
    record = {"alert": alert.kind, **asdict(alert)}
    delivered = "log"
    if webhook_url:
        body = json.dumps({"text": alert.text(), **record}).encode()
        request = urllib.request.Request(webhook_url, data=body, headers={"Content-Type": "application/json"},
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
                record["webhook"] = f"delivered (HTTP {response.status})"
                delivered = "log+webhook"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "code", None) or type(exc).__name__
            record["webhook"] = f"failed ({reason})"
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
    return delivered
