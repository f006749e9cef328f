"""Writeback as the jobs and the CLI use it: run a batch, decide reviews, roll a batch back.

A batch goes through three steps, each safe to repeat: *prepare* (one DuckDB transaction: the
batch and its rows, held changes queued, audit rows), *deliver* (the target writes it exactly
once, keyed by batch id), *record* (one DuckDB transaction: value in force per key, reviews
closed, audit rows). A process killed anywhere leaves a prepared batch that the next run
delivers and records before planning anything new. Every run, rollback and review decision first
verifies the audit log's hash chain and refuses to go on if a row was edited, deleted or moved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from writeback.changes import FAMILIES, Hold, Plan, Write, judge_change, plan_changes, read_proposals
from writeback.settings import WritebackSettings, pause_point
from writeback.state import (
    BatchRecord,
    WritebackStateError,
    connect,
    decide_reviews,
    ensure_schema,
    finalize_batch,
    get_batch_record,
    later_writes,
    list_reviews,
    load_batch,
    load_declined,
    load_in_force,
    load_open_reviews,
    pending_batches,
    prepare_batch,
    require_intact_audit_log,
    values_before,
    writeback_lock,
)
from writeback.targets import Delivery, Target, open_target

Log = Callable[[str], None]


@dataclass
class WritebackResult:
    """What one writeback run did, for the job's metadata and the CLI's summary."""

    destination: str
    families: tuple[str, ...]
    batch: BatchRecord | None = None
    delivery: Delivery | None = None
    completed_earlier: list[str] = field(default_factory=list)
    written: int = 0
    held: int = 0
    unchanged: int = 0
    still_pending: int = 0
    suppressed: int = 0
    superseded: int = 0
    without_value: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        lines = [f"writeback to {self.destination} ({', '.join(self.families)})"]
        lines += [f"  completed interrupted batch {batch_id}" for batch_id in self.completed_earlier]
        if self.batch is None:
            lines.append("  nothing to write: every value is already in force or waiting for review")
        else:
            state = "already in the target" if self.delivery and self.delivery.already_written else "written"
            lines.append(f"  batch {self.batch.batch_id}: {self.written} values {state}")
            if self.delivery:
                lines += [f"  wrote {path}" for path in self.delivery.paths]
        lines.append(
            f"  held for review: {self.held}, still waiting: {self.still_pending}, unchanged: {self.unchanged}, "
            f"declined before: {self.suppressed}, superseded reviews: {self.superseded}"
        )
        if self.without_value:
            lines.append(f"  no value in the forecast (nothing sent for these keys): {self.without_value}")
        lines += [f"  not rolled back: {reason}" for reason in self.skipped]
        return lines


def _quiet(_: str) -> None:
    return None


def _deliver_and_record(warehouse: Path, target: Target, batch_id: str, log: Log) -> tuple[BatchRecord, Delivery]:
    with connect(warehouse) as con:
        batch = load_batch(con, batch_id)
    delivery = target.deliver(batch)
    log(f"batch {batch_id}: {batch.record.row_count} rows "
        f"{'were already in' if delivery.already_written else 'written to'} {target.destination}")
    pause_point("before_record")  # the kill tests stop here: the target holds the batch, the warehouse not yet
    with connect(warehouse) as con:
        record = finalize_batch(con, batch_id)
    return record, delivery


def _complete_pending(warehouse: Path, target: Target, log: Log) -> list[str]:
    with connect(warehouse) as con:
        ensure_schema(con)
        require_intact_audit_log(con, warehouse)
        waiting = pending_batches(con, target.destination)
    for batch_id in waiting:
        log(f"completing batch {batch_id}, interrupted before it was recorded as written")
        _deliver_and_record(warehouse, target, batch_id, log)
    return waiting


def run_writeback(
    settings: WritebackSettings, families: Sequence[str], run_id: str, by: str, log: Log = _quiet
) -> WritebackResult:
    """Send the forecast's current values for `families` to the configured target, exactly once."""
    families = tuple(sorted(set(families)))
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"families must be among {sorted(FAMILIES)}; got {list(families)}")
    with writeback_lock(settings.warehouse), open_target(settings) as target:
        result = WritebackResult(destination=target.destination, families=families)
        result.completed_earlier = _complete_pending(settings.warehouse, target, log)
        with connect(settings.warehouse) as con:
            forecast = _read_proposals(con, settings.warehouse, families)
            proposals = forecast.values
            result.without_value = len(forecast.without_value)
            if forecast.without_value:
                log(f"{len(forecast.without_value)} key(s) have no value in the forecast, e.g. "
                    f"{forecast.without_value[0]}; nothing is sent for them")
            reviews = load_open_reviews(con, target.destination, families)
            keys = list(dict.fromkeys([p.key for p in proposals] + [r.key for r in reviews]))
            plan = plan_changes(
                proposals, load_in_force(con, target.destination, keys), reviews,
                load_declined(con, target.destination), settings.thresholds,
            )
            record = prepare_batch(
                con, plan=plan, destination=target.destination, target_kind=target.kind, origin="scheduled",
                run_id=run_id, families=families, created_by=by,
            )
        _count(result, plan)
        if record is not None:
            result.batch, result.delivery = _deliver_and_record(settings.warehouse, target, record.batch_id, log)
        log(" / ".join(result.summary_lines()))
        return result


def _read_proposals(con: duckdb.DuckDBPyConnection, warehouse: Path, families: Sequence[str]):
    try:
        return read_proposals(con, families)
    except duckdb.CatalogException as exc:
        raise WritebackStateError(
            f"{warehouse} has no forecast to write back ({exc}); run the main job (`retailops run`) first"
        ) from None


def _count(result: WritebackResult, plan: Plan) -> None:
    result.written = len(plan.writes)
    result.held = len(plan.holds)
    result.unchanged = plan.unchanged
    result.still_pending = plan.still_pending
    result.suppressed = plan.suppressed
    result.superseded = len(plan.superseded)


def rollback_batch(
    settings: WritebackSettings, batch_id: str, by: str, log: Log = _quiet
) -> WritebackResult:
    """Write the values in force before `batch_id` as a new compensating batch, through the same path.

    Refused when a later batch has written any of its keys again (roll that one back first), when an
    approved change for one of its keys waits to go out (it is a later write too), when it went to
    another destination than the configured one, or when it was rolled back already. The compensating
    changes face the same thresholds: those beyond them wait in the review queue, and stay there until
    a person approves or rejects them. A change pending review for one of its keys is superseded.
    """
    with writeback_lock(settings.warehouse), open_target(settings) as target:
        completed = _complete_pending(settings.warehouse, target, log)
        with connect(settings.warehouse) as con:
            record = get_batch_record(con, batch_id)
            _check_can_roll_back(con, record, batch_id, target.destination)
            batch = load_batch(con, batch_id)
            keys = [w.key for w in batch.writes]
            before = values_before(con, record, keys)
            unit_costs = _unit_costs(con)
            plan = Plan()
            skipped = []
            for write in batch.writes:
                earlier = before.get(write.key)
                if earlier is None:
                    skipped.append(
                        f"{write.key[0]}/{write.key[1]} {write.key[2]} {write.key[3]}: no value was in force "
                        f"before batch {batch_id}"
                    )
                    continue
                change_pct, change_at_cost, reason = judge_change(
                    earlier.value, write.value, unit_costs.get(write.key[0]), settings.thresholds
                )
                common = {"promotion_id": earlier.promotion_id or write.promotion_id,
                          "end_date": earlier.end_date or write.end_date, "model_version": earlier.model_version}
                if reason is None:
                    plan.writes.append(Write(key=write.key, value=earlier.value, old_value=write.value,
                                             decision="rollback", **common))
                else:
                    plan.holds.append(Hold(key=write.key, new_value=earlier.value, old_value=write.value,
                                           change_pct=change_pct, change_at_cost=change_at_cost,
                                           reason=f"rollback of batch {batch_id}: {reason}", **common))
            if not plan.writes and not plan.holds:
                raise WritebackStateError(
                    f"nothing to roll back: none of the {len(batch.writes)} values of batch {batch_id} had a value "
                    "in force before it (a first value cannot be undone by writing another; correct it in the ERP "
                    "or approve a new value)"
                )
            compensated = {w.key for w in plan.writes} | {h.key for h in plan.holds}
            open_reviews = [r for r in load_open_reviews(con, target.destination, record.families)
                            if r.key in compensated]
            _check_no_approved_waiting(batch_id, open_reviews)
            plan.superseded = open_reviews  # pending only: approved ones refused just above
            run_id = f"rollback:{batch_id}"
            compensating = prepare_batch(
                con, plan=plan, destination=target.destination, target_kind=target.kind, origin="rollback",
                run_id=run_id, families=record.families, created_by=by, rolls_back=batch_id,
            )
        result = WritebackResult(destination=target.destination, families=record.families,
                                 completed_earlier=completed, skipped=skipped)
        _count(result, plan)
        if compensating is not None:
            result.batch, result.delivery = _deliver_and_record(settings.warehouse, target, compensating.batch_id, log)
        log(" / ".join(result.summary_lines()))
        return result


def _check_can_roll_back(con, record: BatchRecord | None, batch_id: str, destination: str) -> None:
    if record is None:
        raise WritebackStateError(f"no batch {batch_id!r} in writeback.batches (see `retailops review list` "
                                  "or the manifests for batch ids)")
    if record.destination != destination:
        raise WritebackStateError(
            f"batch {batch_id} went to {record.destination}, but the configured target is {destination}; "
            "point RETAILOPS_WRITEBACK_TARGET / RETAILOPS_ERP_DSN / RETAILOPS_OUTBOUND_DIR at that destination"
        )
    if record.status != "written":
        raise WritebackStateError(f"batch {batch_id} is {record.status}, not written; nothing to roll back")
    if record.rolled_back_by:
        raise WritebackStateError(f"batch {batch_id} was rolled back already ({record.rolled_back_by})")
    later = later_writes(con, record)
    if later:
        shown = "; ".join(f"{k[0]}/{k[1]} {k[2]} {k[3]} by {b}" for k, b in later[:5])
        more = f" and {len(later) - 5} more" if len(later) > 5 else ""
        raise WritebackStateError(
            f"batch {batch_id} cannot be rolled back: later batches wrote its keys again ({shown}{more}); "
            "roll those back first"
        )


def _check_no_approved_waiting(batch_id: str, reviews) -> None:
    approved = [r for r in reviews if r.status == "approved"]
    if approved:
        shown = "; ".join(f"review {r.review_id} ({r.key[0]}/{r.key[1]} {r.key[2]} {r.key[3]})" for r in approved[:5])
        raise WritebackStateError(
            f"batch {batch_id} cannot be rolled back now: approved changes for its keys wait to go out with the next "
            f"writeback batch ({shown}); run the writeback, then roll back the batch that carries them first"
        )


def _unit_costs(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    try:
        rows = con.execute("select item_id, unit_cost::double from marts.dim_item").fetchall()
    except duckdb.CatalogException:
        return {}
    return {item_id: cost for item_id, cost in rows if cost is not None}


# --- reviews: thin wrappers that take the lock ----------------------------------------------------------

def review_list(warehouse: Path, statuses: Sequence[str] | None = ("pending", "approved")) -> pd.DataFrame:
    """The review queue (pending and approved by default), oldest first."""
    if not Path(warehouse).exists():
        raise WritebackStateError(f"no warehouse at {warehouse}")
    with connect(warehouse, read_only=True) as con:
        return list_reviews(con, statuses)


def review_decide(warehouse: Path, review_ids: Sequence[int] | None, decision: str, by: str,
                  note: str | None = None) -> list[int]:
    """Approve or reject pending reviews (all pending ones when `review_ids` is None)."""
    if not Path(warehouse).exists():
        raise WritebackStateError(f"no warehouse at {warehouse}")
    with writeback_lock(warehouse), connect(warehouse) as con:
        ensure_schema(con)
        require_intact_audit_log(con, warehouse)
        if review_ids is None:
            review_ids = [int(i) for (i,) in con.execute(
                "select review_id from writeback.review_queue where status = 'pending' order by review_id"
            ).fetchall()]
            if not review_ids:
                return []
        return decide_reviews(con, list(review_ids), decision, by, note)
