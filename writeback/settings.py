"""Writeback configuration: target, ERP connection, approval thresholds — all from environment variables.

Nothing is read at import. Dagster resources receive these through `EnvVar`; the CLI reads them
with `WritebackSettings.from_env`. The DSN is kept out of every repr, message and table: a target
is named by its destination (host, port, database, schema — never user or password).
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ENV_TARGET = "RETAILOPS_WRITEBACK_TARGET"
ENV_ERP_DSN = "RETAILOPS_ERP_DSN"
ENV_ERP_SCHEMA = "RETAILOPS_ERP_SCHEMA"
ENV_MAX_CHANGE_PCT = "RETAILOPS_WRITEBACK_MAX_CHANGE_PCT"
ENV_MAX_CHANGE_AT_COST = "RETAILOPS_WRITEBACK_MAX_CHANGE_AT_COST"
ENV_ALERT_LOG = "RETAILOPS_ALERT_LOG"
ENV_ALERT_WEBHOOK = "RETAILOPS_ALERT_WEBHOOK_URL"
# Fault injection for the kill tests: "<point>=<seconds>", e.g. "mid_batch=30". Never set in production.
ENV_PAUSE_AT = "RETAILOPS_WRITEBACK_PAUSE_AT"

TARGETS = ("files", "postgres")

# Values the Dagster resources fall back to; `export_defaults` puts them in the environment so
# `EnvVar` resolves even when an integration owner has set nothing (the files target needs nothing).
DEFAULTS: dict[str, str] = {
    ENV_TARGET: "files",
    ENV_ERP_DSN: "",  # empty: libpq takes PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD
    ENV_ERP_SCHEMA: "erp_staging",
    ENV_MAX_CHANGE_PCT: "50",
    ENV_MAX_CHANGE_AT_COST: "2500",
}

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class WritebackError(Exception):
    """Base of every writeback error a user can act on; messages never contain credentials."""


class WritebackConfigError(WritebackError, ValueError):
    """A writeback setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Thresholds:
    """A change beyond either limit waits in the review queue instead of going to the ERP."""

    max_change_pct: float
    max_change_at_cost: float


@dataclass(frozen=True)
class WritebackSettings:
    """Where writeback keeps its state (the warehouse) and where it writes (files or PostgreSQL)."""

    warehouse: Path
    outbound_dir: Path
    target: str
    erp_schema: str
    thresholds: Thresholds
    dsn: str = field(default="", repr=False, compare=False)

    @classmethod
    def from_values(
        cls, *, warehouse: Path | str, outbound_dir: Path | str, target: str, dsn: str, erp_schema: str,
        max_change_pct: str | float, max_change_at_cost: str | float,
    ) -> WritebackSettings:
        """Validate raw setting values; errors name the environment variable that holds each one."""
        target = str(target).strip().lower()
        if target not in TARGETS:
            raise WritebackConfigError(f"{ENV_TARGET} must be one of {', '.join(TARGETS)}; got {target!r}")
        erp_schema = str(erp_schema).strip()
        if not _IDENTIFIER.match(erp_schema):
            raise WritebackConfigError(
                f"{ENV_ERP_SCHEMA} must be a lower-case SQL identifier (letters, digits, _); got {erp_schema!r}"
            )
        return cls(
            warehouse=Path(warehouse),
            outbound_dir=Path(outbound_dir),
            target=target,
            erp_schema=erp_schema,
            thresholds=Thresholds(
                max_change_pct=_limit(ENV_MAX_CHANGE_PCT, max_change_pct),
                max_change_at_cost=_limit(ENV_MAX_CHANGE_AT_COST, max_change_at_cost),
            ),
            dsn=dsn or "",
        )

    @classmethod
    def from_env(cls, warehouse: Path | str, outbound_dir: Path | str) -> WritebackSettings:
        """Settings from the environment, with the documented defaults for anything unset."""
        value = {name: os.environ.get(name, default) for name, default in DEFAULTS.items()}
        return cls.from_values(
            warehouse=warehouse, outbound_dir=outbound_dir, target=value[ENV_TARGET], dsn=value[ENV_ERP_DSN],
            erp_schema=value[ENV_ERP_SCHEMA], max_change_pct=value[ENV_MAX_CHANGE_PCT],
            max_change_at_cost=value[ENV_MAX_CHANGE_AT_COST],
        )


def _limit(name: str, raw: str | float) -> float:
    try:
        limit = float(raw)
    except (TypeError, ValueError):
        raise WritebackConfigError(f"{name} must be a number (or 'inf' to switch the rule off); got {raw!r}") from None
    if math.isnan(limit) or limit < 0:
        raise WritebackConfigError(f"{name} must be zero or more; got {raw!r}")
    return limit


def export_defaults(alert_log_default: Path) -> None:
    """Set every unset writeback and alert variable to its default, so Dagster's `EnvVar`s resolve."""
    for name, default in DEFAULTS.items():
        os.environ.setdefault(name, default)
    os.environ.setdefault(ENV_ALERT_LOG, str(alert_log_default))
    os.environ.setdefault(ENV_ALERT_WEBHOOK, "")


def redact(text: str, dsn: str) -> str:
    """`text` with the DSN's password (and the DSN itself) replaced by '***'."""
    secrets = {dsn} if dsn else set()
    password = dsn_password(dsn)
    if password:
        secrets.add(password)
    env_password = os.environ.get("PGPASSWORD")
    if env_password:
        secrets.add(env_password)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def dsn_password(dsn: str) -> str | None:
    """The password inside a libpq DSN (key=value or URI form), if any; None when it has none."""
    if not dsn:
        return None
    try:
        from psycopg.conninfo import conninfo_to_dict

        return conninfo_to_dict(dsn).get("password") or None
    except Exception:  # a malformed DSN: fall back to the URI pattern, never echo the DSN
        match = re.match(r"^[a-z]+://[^:/@]*:([^@]*)@", dsn)
        return match.group(1) if match else None


def pause_point(point: str) -> None:
    """Sleep at a named point when RETAILOPS_WRITEBACK_PAUSE_AT asks for it (the kill tests only)."""
    setting = os.environ.get(ENV_PAUSE_AT, "")
    if not setting:
        return
    name, _, seconds = setting.partition("=")
    if name != point:
        return
    print(f"retailops-writeback: paused at {point}", file=sys.stderr, flush=True)
    time.sleep(float(seconds or 60))
