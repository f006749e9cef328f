"""The audit log's hash chain: the normal flow verifies, and an edited, deleted, reordered or planted
row is detected and named — by verify_audit_log, by every writeback run, rollback and review decision.

Hashes are recomputed here from the rule in docs/writeback.md (not with the module's own helpers):
row_sha256 = sha256(previous row's hash + "\\n" + the row as a compact JSON array of strings), the first
row chained after 64 zeros.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb
import pytest

from tests.writeback.conftest import ALL_FAMILIES, make_settings
from tests.writeback.helpers import BASE_TARGETS, table_rows, write_forecast
from writeback.engine import review_decide, review_list, rollback_batch, run_writeback
from writeback.state import WritebackStateError, connect, verify_audit_log


def _flow(tmp_path: Path):
    """19 first values written, then a changed forecast: 2 held (40 -> 70 at 75 %, 20 -> 90 at 350 %)."""
    warehouse = tmp_path / "w.duckdb"
    write_forecast(warehouse)
    settings = make_settings(warehouse, tmp_path / "out", "files")
    first = run_writeback(settings, ALL_FAMILIES, "run-1", "scheduler")
    changed = dict(BASE_TARGETS)
    changed[("001", "L1")] = (10.0, 25.0, 70.0, 12.0)
    changed[("002", "L1")] = (4.0, 9.0, 90.0, 6.0)
    write_forecast(warehouse, targets=changed)
    run_writeback(settings, ALL_FAMILIES, "run-2", "scheduler")
    return warehouse, settings, first.batch.batch_id


def _verify(warehouse: Path):
    with connect(warehouse, read_only=True) as con:
        return verify_audit_log(con)


def _tamper(warehouse: Path, *statements: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        for statement in statements:
            con.execute(statement)


def _documented_hash(previous: str, text: str) -> str:
    return hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()


def test_normal_flow_verifies_and_rows_hash_as_documented(tmp_path: Path) -> None:
    warehouse, settings, first_batch = _flow(tmp_path)
    review_decide(warehouse, [1], "approved", "alice", "checked")
    review_decide(warehouse, [2], "rejected", "bob", None)
    third = run_writeback(settings, ALL_FAMILIES, "run-3", "scheduler")
    rollback_batch(settings, third.batch.batch_id, "carol")
    rows = table_rows(warehouse, "writeback.audit_log", "audit_id")
    # 19 written + 2 held + approved + rejected + 1 written + 1 rolled back
    assert len(rows) == 25 and [r[0] for r in rows] == list(range(1, 26))
    chain = table_rows(warehouse, "writeback.audit_chain", "audit_id")
    assert [(c[0], c[3]) for c in chain] == [(i, "appended") for i in range(1, 26)]

    check = _verify(warehouse)
    assert check.ok and check.rows == 25 and check.first_bad_audit_id is None
    assert check.head_sha256 == chain[-1][1] and check.chained_at_migration == 0

    # Row 1 is the first key of the first batch in key order: 001/L1 order_up_to_units, 40, nothing before.
    logged_at = rows[0][1]
    text = (f'["1","{logged_at:%Y-%m-%dT%H:%M:%S.%f}","written","files:{(tmp_path / "out").resolve()}",'
            f'"{first_batch}","run-1","test-model-v1","001","L1","order_up_to_units","2025-06-25",null,"40",'
            'null,"scheduler","within thresholds"]')
    assert chain[0][1] == _documented_hash("0" * 64, text)
    # Row 2: 001/L1 reorder_point_units 25, chained over row 1's hash.
    text = text.replace('"order_up_to_units"', '"reorder_point_units"').replace('"40"', '"25"')
    assert chain[1][1] == _documented_hash(chain[0][1], text.replace('["1",', '["2",', 1))

    # A double that is not exact in binary shows all 17 significant digits: safety stock 3.5 -> 3.7
    # (5.7 %, 2.00 at cost: out) is logged as "3.5" -> "3.7000000000000002".
    targets = dict(BASE_TARGETS)
    targets[("001", "L1")] = (10.0, 25.0, 70.0, 12.0)
    targets[("002", "L1")] = (4.0, 9.0, 90.0, 6.0)
    targets[("002", "L2")] = (3.7, 7.25, 15.5, 0.0)
    write_forecast(warehouse, targets=targets)
    fourth = run_writeback(settings, ALL_FAMILIES, "run-4", "scheduler")
    assert fourth.written == 1
    last = table_rows(warehouse, "writeback.audit_log", "audit_id")[-1]
    text = (f'["26","{last[1]:%Y-%m-%dT%H:%M:%S.%f}","written","files:{(tmp_path / "out").resolve()}",'
            f'"{fourth.batch.batch_id}","run-4","test-model-v1","002","L2","safety_stock_units","2025-06-25","3.5",'
            '"3.7000000000000002",null,"scheduler","within thresholds"]')
    chain = table_rows(warehouse, "writeback.audit_chain", "audit_id")
    assert chain[-1][0] == 26 and chain[-1][1] == _documented_hash(chain[-2][1], text)
    assert _verify(warehouse).rows == 26


TAMPERING = {
    "edited value": (["update writeback.audit_log set new_value = 41 where audit_id = 5"],
                     5, "audit row 5 does not match its hash"),
    "edited note": (["update writeback.audit_log set note = 'fine' where audit_id = 20"],
                    20, "audit row 20 does not match its hash"),
    "deleted middle row": (["delete from writeback.audit_log where audit_id = 3"],
                           3, "audit row 3 was deleted"),
    "deleted middle row and its hash": (["delete from writeback.audit_log where audit_id = 3",
                                         "delete from writeback.audit_chain where audit_id = 3"],
                                        3, "audit row 3 is missing (the next row is 4)"),
    "reordered rows": (["update writeback.audit_log set audit_id = -4 where audit_id = 4",
                        "update writeback.audit_log set audit_id = 4 where audit_id = 3",
                        "update writeback.audit_log set audit_id = 3 where audit_id = -4"],
                       3, "audit row 3 does not match its hash"),
    "reordered rows with their hashes": (
        ["update writeback.audit_log set audit_id = -4 where audit_id = 4",
         "update writeback.audit_log set audit_id = 4 where audit_id = 3",
         "update writeback.audit_log set audit_id = 3 where audit_id = -4",
         "update writeback.audit_chain set audit_id = -4 where audit_id = 4",
         "update writeback.audit_chain set audit_id = 4 where audit_id = 3",
         "update writeback.audit_chain set audit_id = 3 where audit_id = -4"],
        3, "audit row 3 does not match its hash"),
    "row planted at the end": (
        ["""insert into writeback.audit_log select 22, logged_at, 'approved', destination, batch_id, run_id,
            model_version, item_id, location_id, target_type, effective_date, old_value, new_value, review_id,
            'mallory', note from writeback.audit_log where audit_id = 21"""],
        22, "audit row 22 has no hash"),
}


@pytest.mark.parametrize("case", TAMPERING, ids=list(TAMPERING))
def test_tampering_is_detected_named_and_refused(tmp_path: Path, case: str) -> None:
    warehouse, settings, first_batch = _flow(tmp_path)
    assert len(table_rows(warehouse, "writeback.audit_log")) == 21  # 19 written + 2 held
    statements, bad_row, message = TAMPERING[case]
    _tamper(warehouse, *statements)

    check = _verify(warehouse)
    assert not check.ok and check.first_bad_audit_id == bad_row and check.rows == bad_row - 1
    assert check.problem.startswith(message)
    outbound_before = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = rf"fails verification: {re.escape(message)}.*restore the warehouse from a backup"
    with pytest.raises(WritebackStateError, match=expected):
        run_writeback(settings, ALL_FAMILIES, "run-3", "scheduler")
    with pytest.raises(WritebackStateError, match=expected):
        review_decide(warehouse, [1], "approved", "alice", None)
    with pytest.raises(WritebackStateError, match=expected):
        rollback_batch(settings, first_batch, "carol")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == outbound_before
    assert list(review_list(warehouse)["status"]) == ["pending", "pending"]


def test_rehashing_an_edited_row_moves_the_break_to_the_next_row(tmp_path: Path) -> None:
    warehouse, _, _ = _flow(tmp_path)
    chain = table_rows(warehouse, "writeback.audit_chain", "audit_id")
    _tamper(warehouse, "update writeback.audit_log set new_value = 41 where audit_id = 5")
    row = table_rows(warehouse, "writeback.audit_log", "audit_id")[4]
    text = ("[" + ",".join([
        '"5"', f'"{row[1]:%Y-%m-%dT%H:%M:%S.%f}"', *(f'"{v}"' for v in row[2:10]), f'"{row[10].isoformat()}"',
        "null", '"41"', "null", f'"{row[14]}"', f'"{row[15]}"']) + "]")
    _tamper(warehouse, f"update writeback.audit_chain set row_sha256 = '{_documented_hash(chain[3][1], text)}' "
                       "where audit_id = 5")
    check = _verify(warehouse)
    assert check.first_bad_audit_id == 6 and check.problem.startswith("audit row 6 does not match its hash")


def test_a_log_from_before_the_chain_is_chained_at_migration(tmp_path: Path) -> None:
    """A warehouse written before the chain (and before review_queue.rolls_back) is migrated on first use."""
    warehouse, settings, _ = _flow(tmp_path)
    strict = make_settings(warehouse, tmp_path / "out", "files", max_change_pct=20)
    third_forecast = dict(BASE_TARGETS)
    third_forecast[("002", "L2")] = (4.0, 7.25, 15.5, 0.0)   # safety 3.5 -> 4: 14.3 %, 5 at cost: out
    write_forecast(warehouse, targets=third_forecast)
    batch = run_writeback(strict, ["replenishment_targets"], "run-3", "scheduler").batch.batch_id
    # Undoing 3.5 -> 4 is 4 -> 3.5: 12.5 % < 20 %, but let a 10 % limit hold it.
    rollback_batch(make_settings(warehouse, tmp_path / "out", "files", max_change_pct=10), batch, "carol")
    (review_id,) = review_list(warehouse, ["pending"]).query("origin == 'rollback'")["review_id"]
    before = table_rows(warehouse, "writeback.audit_log", "audit_id")
    _tamper(warehouse, "drop table writeback.audit_chain",
            "alter table writeback.review_queue drop column rolls_back")

    # Rejecting the held rollback runs the migration first: the log is chained as it stands, the
    # review learns which batch it undoes (from its run id), and the rollback is cancelled.
    review_decide(warehouse, [int(review_id)], "rejected", "erin", None)
    after = table_rows(warehouse, "writeback.audit_log", "audit_id")
    assert after[:len(before)] == before
    assert [r[2] for r in after[len(before):]] == ["rejected", "rollback_cancelled"]
    chain = table_rows(warehouse, "writeback.audit_chain", "audit_id")
    assert [c[3] for c in chain] == ["migration"] * len(before) + ["appended"] * 2
    check = _verify(warehouse)
    assert check.ok and check.rows == len(after) and check.chained_at_migration == len(before)
    assert check.migrated_at == chain[0][2]
    (batch_row,) = [r for r in table_rows(warehouse, "writeback.batches") if r[0] == batch]
    assert batch_row[15] is None

    # From now on a row from before the migration is protected like any other.
    _tamper(warehouse, "update writeback.audit_log set effective_date = DATE '2025-06-26' where audit_id = 2")
    check = _verify(warehouse)
    assert check.first_bad_audit_id == 2 and check.problem.startswith("audit row 2 does not match its hash")


def test_no_chain_table_is_reported_not_crashed(tmp_path: Path) -> None:
    warehouse, _, _ = _flow(tmp_path)
    _tamper(warehouse, "drop table writeback.audit_chain")
    check = _verify(warehouse)
    assert not check.ok and "audit_chain does not exist" in check.problem
