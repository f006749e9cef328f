"""Approval thresholds, the review queue, rollback and the audit log, on both targets.

Thresholds in these tests: 50 % and 500 at cost (unit cost 2.00 for item 001, 10.00 for item 002).
Every expected number below is worked out by hand in the comments.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from tests.writeback.conftest import ALL_FAMILIES, Harness
from tests.writeback.helpers import AS_OF, BASE_TARGETS, BASE_UPLIFT, expected_values, table_rows, write_forecast
from writeback.engine import review_decide, review_list, rollback_batch, run_writeback
from writeback.state import WritebackStateError

UPLIFT_P2 = ("002", "L1", "uplift_units", date(2025, 7, 10))
UPLIFT_P3 = ("002", "L2", "uplift_units", date(2025, 7, 17))
OUT_001_L1 = ("001", "L1", "order_up_to_units", AS_OF)
SUGGESTED_001_L2 = ("001", "L2", "suggested_order_units", AS_OF)
OUT_002_L1 = ("002", "L1", "order_up_to_units", AS_OF)
SAFETY_002_L2 = ("002", "L2", "safety_stock_units", AS_OF)

CHANGED_TARGETS = dict(BASE_TARGETS)
CHANGED_TARGETS[("001", "L1")] = (10.0, 25.0, 70.0, 12.0)   # order-up-to 40 -> 70: 75 % > 50 %  -> held
CHANGED_TARGETS[("001", "L2")] = (8.0, 20.0, 32.0, 300.0)   # suggested 0 -> 300: 300 x 2 = 600 > 500 -> held
CHANGED_TARGETS[("002", "L1")] = (4.0, 9.0, 26.0, 6.0)      # order-up-to 20 -> 26: 30 %, 60 at cost -> out
CHANGED_TARGETS[("002", "L2")] = (5.0, 7.25, 15.5, 0.0)     # safety 3.5 -> 5: 42.9 %, 15 at cost -> out
CHANGED_UPLIFT = [
    *BASE_UPLIFT[:2],
    ("P2", "002", "L1", date(2025, 7, 10), date(2025, 7, 23), 70.0),   # 12 -> 70: 483 %, 580 -> held
    ("P3", "002", "L2", date(2025, 7, 17), date(2025, 7, 30), 40.0),   # new: 40 x 10 = 400 -> out
]


def audit(harness: Harness) -> list[tuple]:
    return table_rows(harness.warehouse, "writeback.audit_log", "audit_id")


def assert_appended_only(before: list[tuple], after: list[tuple]) -> None:
    """The audit log only grows: every earlier row is still there, unchanged, in the same place."""
    assert len(after) >= len(before)
    assert after[:len(before)] == before


def _decisions(rows: list[tuple]) -> list[tuple]:
    # decision, key, old, new, review id, by
    return [(r[2], (r[7], r[8], r[9], r[10]), r[11], r[12], r[13], r[14]) for r in rows]


def test_threshold_routing_review_and_rollback_end_to_end(harness: Harness) -> None:
    run_writeback(harness.settings, ALL_FAMILIES, "run-1", "scheduler")
    log = audit(harness)
    base = expected_values()

    # 1. Changes beyond a threshold wait; the rest go out.
    write_forecast(harness.warehouse, targets=CHANGED_TARGETS, uplift=CHANGED_UPLIFT)
    routed = run_writeback(harness.settings, ALL_FAMILIES, "run-2", "scheduler")
    assert (routed.written, routed.held) == (3, 3)
    values = harness.values()
    assert values[OUT_002_L1] == 26.0 and values[SAFETY_002_L2] == 5.0 and values[UPLIFT_P3] == 40.0
    assert values[OUT_001_L1] == 40.0 and values[SUGGESTED_001_L2] == 0.0 and values[UPLIFT_P2] == 12.0
    queue = review_list(harness.warehouse)
    got = {(r["item_id"], r["location_id"], r["target_type"]): r for r in queue.to_dict("records")}
    assert set(got) == {OUT_001_L1[:3], SUGGESTED_001_L2[:3], UPLIFT_P2[:3]}
    assert (got[OUT_001_L1[:3]]["old_value"], got[OUT_001_L1[:3]]["new_value"]) == (40.0, 70.0)
    assert got[OUT_001_L1[:3]]["change_pct"] == 75.0 and got[OUT_001_L1[:3]]["change_at_cost"] == 60.0
    assert got[SUGGESTED_001_L2[:3]]["change_at_cost"] == 600.0
    assert got[UPLIFT_P2[:3]]["change_pct"] == pytest.approx(5800 / 12) and got[UPLIFT_P2[:3]]["change_at_cost"] == 580
    after = audit(harness)
    assert_appended_only(log, after)
    new_rows = _decisions(after[len(log):])
    assert sorted(r[0] for r in new_rows) == ["held"] * 3 + ["written"] * 3
    held_ids = {r[1]: r[4] for r in new_rows if r[0] == "held"}
    log = after
    routed_batch = routed.batch.batch_id

    # 2. A rerun keeps the held changes waiting: no duplicates, no writes.
    rerun = run_writeback(harness.settings, ALL_FAMILIES, "run-3", "scheduler")
    assert rerun.batch is None and rerun.still_pending == 3 and audit(harness) == log

    # 3. Approve one, reject one: each decision is audited with who decided.
    review_decide(harness.warehouse, [held_ids[OUT_001_L1]], "approved", "alice", "promo build-up")
    review_decide(harness.warehouse, [held_ids[SUGGESTED_001_L2]], "rejected", "bob", None)
    after = audit(harness)
    assert_appended_only(log, after)
    assert _decisions(after[len(log):]) == [
        ("approved", OUT_001_L1, 40.0, 70.0, held_ids[OUT_001_L1], "alice"),
        ("rejected", SUGGESTED_001_L2, 0.0, 300.0, held_ids[SUGGESTED_001_L2], "bob"),
    ]
    log = after
    with pytest.raises(WritebackStateError, match="is approved"):
        review_decide(harness.warehouse, [held_ids[OUT_001_L1]], "rejected", "carol", None)
    with pytest.raises(WritebackStateError, match="no review with id 999"):
        review_decide(harness.warehouse, [999], "approved", "carol", None)
    assert audit(harness) == log

    # 4. The approved change goes out with the next batch; the rejected one is not sent again.
    approved = run_writeback(harness.settings, ALL_FAMILIES, "run-4", "scheduler")
    assert approved.written == 1 and approved.suppressed == 1 and approved.still_pending == 1
    assert harness.values()[OUT_001_L1] == 70.0 and harness.values()[SUGGESTED_001_L2] == 0.0
    after = audit(harness)
    assert _decisions(after[len(log):]) == [
        ("written", OUT_001_L1, 40.0, 70.0, held_ids[OUT_001_L1], "scheduler")]
    log = after
    statuses = dict(zip(queue["review_id"], review_list(harness.warehouse, None)["status"], strict=True))
    assert statuses == {held_ids[OUT_001_L1]: "written", held_ids[SUGGESTED_001_L2]: "rejected",
                        held_ids[UPLIFT_P2]: "pending"}

    # 5. The forecast moves P2's uplift to 13 (12 -> 13: 8.3 %, 10 at cost): the waiting 70 is superseded.
    write_forecast(harness.warehouse, targets=CHANGED_TARGETS,
                   uplift=[*CHANGED_UPLIFT[:2], (*CHANGED_UPLIFT[2][:5], 13.0), CHANGED_UPLIFT[3]])
    moved = run_writeback(harness.settings, ALL_FAMILIES, "run-5", "scheduler")
    assert moved.written == 1 and moved.superseded == 1 and harness.values()[UPLIFT_P2] == 13.0
    after = audit(harness)
    assert [r[0] for r in _decisions(after[len(log):])] == ["superseded", "written"]
    log = after

    # 6. Roll back the batch of step 1: the values in force before it come back as a new batch.
    before_rollback = harness.batch_ids()
    rolled = rollback_batch(harness.settings, routed_batch, "carol")
    compensating = rolled.batch.batch_id
    assert harness.batch_ids() == before_rollback | {compensating}
    values = harness.values()
    assert values[OUT_002_L1] == base[OUT_002_L1] == 20.0 and values[SAFETY_002_L2] == 3.5
    assert values[UPLIFT_P3] == 40.0  # nothing was in force before P3's first value: left as written
    assert rolled.skipped == [f"002/L2 uplift_units 2025-07-17: no value was in force before batch {routed_batch}"]
    after = audit(harness)
    assert_appended_only(log, after)
    assert sorted(_decisions(after[len(log):])) == [
        ("rolled_back", OUT_002_L1, 26.0, 20.0, None, "carol"),
        ("rolled_back", SAFETY_002_L2, 5.0, 3.5, None, "carol"),
    ]
    assert all(r[15] == f"compensates batch {routed_batch}" for r in after[len(log):])
    log = after

    # 7. The next scheduled run does not push the rolled-back values again (the forecast is unchanged).
    quiet = run_writeback(harness.settings, ALL_FAMILIES, "run-6", "scheduler")
    assert quiet.batch is None and quiet.suppressed == 3 and harness.values()[OUT_002_L1] == 20.0
    assert audit(harness) == log

    # 8. A batch is rolled back once; a batch whose keys were written again later cannot be rolled back.
    with pytest.raises(WritebackStateError, match="rolled back already"):
        rollback_batch(harness.settings, routed_batch, "carol")
    first_batch = sorted(before_rollback - {routed_batch, approved.batch.batch_id, moved.batch.batch_id})[0]
    with pytest.raises(WritebackStateError, match="later batches wrote its keys again"):
        rollback_batch(harness.settings, first_batch, "carol")
    with pytest.raises(WritebackStateError, match="no batch 'nope'"):
        rollback_batch(harness.settings, "nope", "carol")
    assert audit(harness) == log


def test_rollback_beyond_a_threshold_waits_for_review(harness: Harness) -> None:
    run_writeback(harness.settings, ALL_FAMILIES, "run-1", "scheduler")
    write_forecast(harness.warehouse, targets=CHANGED_TARGETS, uplift=CHANGED_UPLIFT)
    run_writeback(harness.settings, ALL_FAMILIES, "run-2", "scheduler")
    (review_id,) = review_list(harness.warehouse).query("target_type == 'order_up_to_units'")["review_id"]
    review_decide(harness.warehouse, [int(review_id)], "approved", "alice", None)
    approved = run_writeback(harness.settings, ["replenishment_targets"], "run-3", "scheduler")
    assert harness.values()[OUT_001_L1] == 70.0

    # Undoing 40 -> 70 is 70 -> 40: |30| / 70 = 42.9 %; with a 40 % limit the compensation is held too.
    strict = harness.with_thresholds(40, 500)
    rolled = rollback_batch(strict, approved.batch.batch_id, "carol")
    assert rolled.batch is None and rolled.held == 1 and harness.values()[OUT_001_L1] == 70.0
    pending = review_list(harness.warehouse, ["pending"]).query("target_type == 'order_up_to_units'")
    assert list(pending["new_value"]) == [40.0] and list(pending["origin"]) == ["rollback"]
    assert pending["reason"].iloc[0].startswith(f"rollback of batch {approved.batch.batch_id}: change 42.9% > 40%")
    review_decide(harness.warehouse, [int(pending["review_id"].iloc[0])], "approved", "dave", None)
    run_writeback(strict, ["replenishment_targets"], "run-4", "scheduler")
    assert harness.values()[OUT_001_L1] == 40.0


def _batch_of_one_approved_change(harness: Harness) -> str:
    """Order-up-to 001/L1 40 -> 70 (75 %: held), approved and written alone; the forecast keeps proposing 70."""
    run_writeback(harness.settings, ALL_FAMILIES, "run-1", "scheduler")
    write_forecast(harness.warehouse, targets=CHANGED_TARGETS, uplift=CHANGED_UPLIFT)
    run_writeback(harness.settings, ALL_FAMILIES, "run-2", "scheduler")
    (review_id,) = review_list(harness.warehouse).query("target_type == 'order_up_to_units'")["review_id"]
    review_decide(harness.warehouse, [int(review_id)], "approved", "alice", None)
    approved = run_writeback(harness.settings, ["replenishment_targets"], "run-3", "scheduler")
    assert approved.written == 1 and harness.values()[OUT_001_L1] == 70.0
    return approved.batch.batch_id


def _rollback_reviews(harness: Harness, status: str) -> list[int]:
    queue = review_list(harness.warehouse, [status])
    return [int(i) for i in queue[queue["origin"] == "rollback"]["review_id"]]


def _rolled_back_by(harness: Harness, batch_id: str) -> str | None:
    (row,) = [r for r in table_rows(harness.warehouse, "writeback.batches") if r[0] == batch_id]
    return row[15]


def test_held_rollback_survives_a_scheduled_run_and_goes_out_when_approved(harness: Harness) -> None:
    batch_id = _batch_of_one_approved_change(harness)
    # Undoing 40 -> 70 is 70 -> 40: |30| / 70 = 42.9 % > 40 %: held.
    strict = harness.with_thresholds(40, 500)
    assert rollback_batch(strict, batch_id, "carol").held == 1
    (review_id,) = _rollback_reviews(harness, "pending")

    # The daily run before anyone decides, the forecast unchanged (it still proposes 70, the value in
    # force): the rollback review is not superseded, the key is left alone.
    quiet = run_writeback(strict, ["replenishment_targets"], "run-4", "scheduler")
    assert quiet.batch is None and quiet.superseded == 0
    assert quiet.still_pending == 2  # the rollback of 001/L1 and the 0 -> 300 suggested order of 001/L2 (run-2)
    assert _rollback_reviews(harness, "pending") == [review_id] and harness.values()[OUT_001_L1] == 70.0

    review_decide(harness.warehouse, [review_id], "approved", "dave", None)
    log = audit(harness)
    sent = run_writeback(strict, ["replenishment_targets"], "run-5", "scheduler")
    assert sent.written == 1 and harness.values()[OUT_001_L1] == 40.0
    after = audit(harness)
    assert _decisions(after[len(log):]) == [("rolled_back", OUT_001_L1, 70.0, 40.0, review_id, "scheduler")]
    assert after[-1][4] == sent.batch.batch_id
    assert after[-1][15] == f"approved in review {review_id}; compensates batch {batch_id}"
    assert _rolled_back_by(harness, batch_id) == sent.batch.batch_id
    with pytest.raises(WritebackStateError, match="rolled back already"):
        rollback_batch(strict, batch_id, "carol")
    # The undone 70 is not sent again while the forecast still proposes it.
    again = run_writeback(strict, ["replenishment_targets"], "run-6", "scheduler")
    assert again.batch is None and again.suppressed == 1 and harness.values()[OUT_001_L1] == 40.0


def test_rejected_held_rollback_can_be_requested_again(harness: Harness) -> None:
    batch_id = _batch_of_one_approved_change(harness)
    strict = harness.with_thresholds(40, 500)
    rollback_batch(strict, batch_id, "carol")
    (review_id,) = _rollback_reviews(harness, "pending")
    assert _rolled_back_by(harness, batch_id) == f"review:rollback:{batch_id}"

    log = audit(harness)
    review_decide(harness.warehouse, [review_id], "rejected", "erin", "keep 70 for the promotion")
    after = audit(harness)
    assert _decisions(after[len(log):]) == [
        ("rejected", OUT_001_L1, 70.0, 40.0, review_id, "erin"),
        ("rollback_cancelled", OUT_001_L1, 70.0, 40.0, review_id, "erin"),
    ]
    assert after[-1][4] == batch_id and after[-1][15].startswith(f"rollback of batch {batch_id} cancelled")
    assert _rolled_back_by(harness, batch_id) is None

    # Nothing changes on the next run (70 is in force and proposed), and the rollback can be asked for again.
    quiet = run_writeback(strict, ["replenishment_targets"], "run-4", "scheduler")
    assert quiet.batch is None and harness.values()[OUT_001_L1] == 70.0
    assert rollback_batch(strict, batch_id, "carol").held == 1
    (second_id,) = _rollback_reviews(harness, "pending")
    assert second_id != review_id
    review_decide(harness.warehouse, [second_id], "approved", "dave", None)
    run_writeback(strict, ["replenishment_targets"], "run-5", "scheduler")
    assert harness.values()[OUT_001_L1] == 40.0


def test_partly_held_rollback_stays_rolled_back_when_the_held_part_is_rejected(harness: Harness) -> None:
    run_writeback(harness.settings, ALL_FAMILIES, "run-1", "scheduler")
    write_forecast(harness.warehouse, targets=CHANGED_TARGETS, uplift=CHANGED_UPLIFT)
    routed = run_writeback(harness.settings, ALL_FAMILIES, "run-2", "scheduler").batch.batch_id
    # At 25 %: 26 -> 20 is 6 / 26 = 23.1 % and 60 at cost: out; 5 -> 3.5 is 1.5 / 5 = 30 %: held;
    # P3's uplift had no value before the batch: skipped.
    rolled = rollback_batch(harness.with_thresholds(25, 500), routed, "carol")
    assert (rolled.written, rolled.held, len(rolled.skipped)) == (1, 1, 1)
    assert harness.values()[OUT_002_L1] == 20.0 and harness.values()[SAFETY_002_L2] == 5.0
    (review_id,) = _rollback_reviews(harness, "pending")
    review_decide(harness.warehouse, [review_id], "rejected", "erin", None)
    # Part of the rollback was written: the batch stays rolled back, by the compensating batch.
    assert _rolled_back_by(harness, routed) == rolled.batch.batch_id
    assert "rollback_cancelled" not in [r[2] for r in audit(harness)]
    with pytest.raises(WritebackStateError, match="rolled back already"):
        rollback_batch(harness.settings, routed, "carol")
    # Rejecting the rollback's 3.5 did not reject 3.5 as such: when the forecast proposes it, it goes out
    # (5 -> 3.5: 30 % < 50 %, 15 at cost). The undone 26 stays undone.
    targets = dict(CHANGED_TARGETS)
    targets[("002", "L2")] = BASE_TARGETS[("002", "L2")]
    write_forecast(harness.warehouse, targets=targets, uplift=CHANGED_UPLIFT)
    later = run_writeback(harness.settings, ALL_FAMILIES, "run-3", "scheduler")
    assert later.written == 1 and harness.values()[SAFETY_002_L2] == 3.5 and harness.values()[OUT_002_L1] == 20.0


def test_rollback_supersedes_a_pending_change_and_waits_for_an_approved_one(harness: Harness) -> None:
    run_writeback(harness.settings, ALL_FAMILIES, "run-1", "scheduler")
    targets = dict(BASE_TARGETS)
    targets[("002", "L1")] = (4.0, 9.0, 26.0, 6.0)    # order-up-to 20 -> 26: 30 %, 60 at cost: out
    write_forecast(harness.warehouse, targets=targets)
    batch_id = run_writeback(harness.settings, ALL_FAMILIES, "run-2", "scheduler").batch.batch_id
    targets[("002", "L1")] = (4.0, 9.0, 90.0, 6.0)    # 26 -> 90: 246 %, 640 at cost: held
    write_forecast(harness.warehouse, targets=targets)
    assert run_writeback(harness.settings, ALL_FAMILIES, "run-3", "scheduler").held == 1
    (waiting,) = review_list(harness.warehouse)["review_id"]

    log = audit(harness)
    rolled = rollback_batch(harness.settings, batch_id, "carol")  # 26 -> 20: within the thresholds, out
    assert rolled.superseded == 1 and harness.values()[OUT_002_L1] == 20.0
    assert review_list(harness.warehouse, None).set_index("review_id")["status"].to_dict() == {waiting: "superseded"}
    superseded = [r for r in audit(harness)[len(log):] if r[2] == "superseded"]
    assert [(r[13], r[15]) for r in superseded] == [
        (waiting, f"a rollback of batch {batch_id} was requested for this key")]

    # The forecast's 90 is judged afresh against the 20 now in force (350 %): a new review.
    assert run_writeback(harness.settings, ALL_FAMILIES, "run-4", "scheduler").held == 1
    (fresh,) = review_list(harness.warehouse, ["pending"])["review_id"]
    review_decide(harness.warehouse, [int(fresh)], "approved", "alice", None)
    # An approved change waiting to go out is a later write of the key: the compensating batch cannot be
    # rolled back before it.
    with pytest.raises(WritebackStateError, match=rf"approved changes for its keys wait.*review {fresh} "):
        rollback_batch(harness.settings, rolled.batch.batch_id, "carol")


def test_approve_all_and_reject_all(tmp_path: Path) -> None:
    from tests.writeback.conftest import make_settings

    warehouse = tmp_path / "w.duckdb"
    write_forecast(warehouse)
    settings = make_settings(warehouse, tmp_path / "out", "files", max_change_pct=0, max_change_at_cost=0)
    result = run_writeback(settings, ALL_FAMILIES, "run-1", "scheduler")
    # With both limits at 0 every non-zero first value waits; the two zero suggested orders cost
    # nothing (0 x unit cost = 0, not above 0) and go out.
    assert (result.written, result.held) == (2, 17)
    assert review_decide(warehouse, None, "approved", "alice") == list(range(1, 18))
    assert review_decide(warehouse, None, "rejected", "alice") == []
    result = run_writeback(settings, ALL_FAMILIES, "run-2", "scheduler")
    assert result.written == 17 and result.batch is not None


def test_no_code_path_updates_or_deletes_audit_rows() -> None:
    """Append-only in practice: no statement in the code base rewrites writeback.audit_log or its hash chain."""
    root = Path(__file__).resolve().parents[2]
    table = r"writeback\.audit_(log|chain)\b"
    forbidden = re.compile(
        rf"(update\s+{table}|delete\s+from\s+{table}|truncate\s+{table}|alter\s+table\s+{table}|"
        rf"drop\s+table\s+(if\s+exists\s+)?{table}|create\s+or\s+replace\s+table\s+{table})",
        re.IGNORECASE,
    )
    assert forbidden.search('con.execute("update writeback.audit_chain set row_sha256 = 1")')
    assert not forbidden.search("insert into writeback.audit_log by name select * from audit_rows")
    offenders = [
        str(path.relative_to(root)) for folder in ("writeback", "orchestration", "dbt_project")
        for path in (root / folder).rglob("*") if path.suffix in {".py", ".sql"}
        and forbidden.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
