"""What `retailops review …` and `retailops writeback rollback` do, as functions returning their output text.

The CLI only parses arguments and prints; every check and every change of state is here or below.
Errors are `WritebackError`s with a message for the user.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from writeback.engine import review_decide, review_list, rollback_batch
from writeback.settings import WritebackSettings, redact
from writeback.state import env_user

REVIEW_STATUSES = ("pending", "approved", "rejected", "superseded", "written")


def review_list_text(warehouse: Path, status: str = "open") -> str:
    """The review queue as a table: 'open' = pending and approved-not-yet-written, 'all', or one status."""
    statuses = {"open": ("pending", "approved"), "all": None}.get(status, (status,))
    frame = review_list(warehouse, statuses)
    if frame.empty:
        return f"no {status} reviews in {warehouse}"
    lines = [f"{'id':>5}  {'status':<10} {'item':<10} {'location':<10} {'target type':<22} {'effective':<10} "
             f"{'old':>12} → {'new':<12} {'change %':>9} {'at cost':>10}  reason"]
    for row in frame.to_dict("records"):
        lines.append(
            f"{row['review_id']:>5}  {row['status']:<10} {row['item_id']:<10} {row['location_id']:<10} "
            f"{row['target_type']:<22} {str(row['effective_date'])[:10]:<10} {_num(row['old_value']):>12} → "
            f"{_num(row['new_value']):<12} {_num(row['change_pct'], 1):>9} {_num(row['change_at_cost'], 2):>10}  "
            f"{row['reason']}"
        )
    destinations = sorted(set(frame["destination"]))
    lines.append(f"{len(frame)} review(s) for {', '.join(destinations)}")
    return "\n".join(lines)


def _num(value, digits: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if digits is not None else format(value, ".10g")


def review_decide_text(
    warehouse: Path, review_ids: Sequence[int] | None, decision: str, by: str | None = None, note: str | None = None
) -> str:
    """Approve or reject reviews by id (or every pending one when `review_ids` is None)."""
    decided = review_decide(warehouse, review_ids, decision, by or env_user(), note)
    if not decided:
        return "no pending reviews"
    follow = " they go out with the next writeback batch." if decision == "approved" else ""
    return f"{decision} review(s) {', '.join(map(str, decided))}.{follow}"


def rollback_text(warehouse: Path, outbound_dir: Path, batch_id: str, by: str | None = None) -> str:
    """Roll back a batch through the configured target (settings from the environment)."""
    settings = WritebackSettings.from_env(warehouse, outbound_dir)
    result = rollback_batch(settings, batch_id, by or env_user())
    lines = result.summary_lines()
    if result.batch is not None:
        lines.insert(1, f"  compensating batch {result.batch.batch_id} rolls back {batch_id}")
    return redact("\n".join(lines), settings.dsn)
