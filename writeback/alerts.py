"""Run-failure alerts: a JSON line appended to a log file, and a POST to a webhook when one is configured.

The webhook URL often carries a token: it is never written to the log or put in a message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFailureAlert:
    job_name: str
    run_id: str
    failed_at: str  # ISO 8601, UTC
    message: str
    failed_steps: tuple[str, ...] = ()


def deliver_alert(alert: RunFailureAlert, log_path: Path, webhook_url: str = "", timeout_seconds: float = 5.0) -> str:
    """Append the alert to `log_path` (always: the local record) and POST it to `webhook_url` if set.

    Returns how it was delivered. A webhook that fails is noted in the log line; it never raises,
    so an unreachable webhook cannot hide the alert.
    """
    record = asdict(alert)
    delivered = "log"
    if webhook_url:
        body = json.dumps({"text": f"retailops run failed: {alert.job_name} ({alert.run_id})", **record}).encode()
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
