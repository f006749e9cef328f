"""Exactly once, on both targets: a rerun changes nothing, and a process killed mid-batch (a real
SIGKILL) leaves nothing half-written; the next run completes the batch, ending where one clean run ends.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.writeback.conftest import ALL_FAMILIES, Harness, make_settings
from tests.writeback.helpers import BASE_TARGETS, BASE_UPLIFT, expected_values, table_rows, write_forecast
from writeback.engine import run_writeback
from writeback.settings import ENV_ERP_DSN, ENV_ERP_SCHEMA, ENV_PAUSE_AT, ENV_TARGET
from writeback.state import connect, load_batch
from writeback.targets import open_target

# Every value up by 10 %: within the 50 % / 500 thresholds, so the whole second batch goes out.
RAISED_TARGETS = {key: tuple(round(v * 1.1, 4) for v in values) for key, values in BASE_TARGETS.items()}
RAISED_UPLIFT = [(*row[:5], round(row[5] * 1.1, 4)) for row in BASE_UPLIFT]


def test_first_run_writes_every_key_and_a_rerun_changes_nothing(harness: Harness) -> None:
    first = run_writeback(harness.settings, ALL_FAMILIES, "run-1", "test")
    assert first.batch is not None and first.written == 19 and first.held == 0
    assert harness.values() == expected_values()
    target_before = harness.snapshot()
    audit_before = table_rows(harness.warehouse, "writeback.audit_log", "audit_id")
    state_before = table_rows(harness.warehouse, "writeback.key_state")
    assert [row[2] for row in audit_before] == ["written"] * 19

    second = run_writeback(harness.settings, ALL_FAMILIES, "run-2", "test")
    assert second.batch is None and second.unchanged == 19
    assert harness.snapshot() == target_before
    assert table_rows(harness.warehouse, "writeback.audit_log", "audit_id") == audit_before
    assert table_rows(harness.warehouse, "writeback.key_state") == state_before


def test_delivering_the_same_batch_twice_is_a_no_op_in_the_target(harness: Harness) -> None:
    first = run_writeback(harness.settings, ALL_FAMILIES, "run-1", "test")
    before = harness.snapshot()
    with connect(harness.warehouse) as con:
        batch = load_batch(con, first.batch.batch_id)
    with open_target(harness.settings) as target:
        again = target.deliver(batch)
    assert again.already_written
    assert harness.snapshot() == before


def test_batch_id_is_deterministic_from_content_and_run(tmp_path: Path) -> None:
    ids = []
    for name, run_id in (("a", "run-1"), ("b", "run-1"), ("c", "run-2")):
        warehouse = tmp_path / f"{name}.duckdb"
        write_forecast(warehouse)
        result = run_writeback(make_settings(warehouse, tmp_path / name, "files"), ALL_FAMILIES, run_id, "test")
        ids.append(result.batch.batch_id)
    # Same content and run -> same id; another run of the same content -> another id.
    assert ids[0] == ids[1] != ids[2]


def _writer_process(harness: Harness, pause_at: str, run_id: str) -> subprocess.Popen:
    """A separate Python process running one writeback, paused at `pause_at` until we kill it."""
    code = (
        "import sys\n"
        "from writeback.settings import WritebackSettings\n"
        "from writeback.engine import run_writeback\n"
        "settings = WritebackSettings.from_env(sys.argv[1], sys.argv[2])\n"
        f"run_writeback(settings, {ALL_FAMILIES!r}, sys.argv[3], 'killed-writer')\n"
    )
    env = dict(os.environ)
    env.update({
        ENV_TARGET: harness.settings.target, ENV_ERP_DSN: harness.settings.dsn, ENV_ERP_SCHEMA:
        harness.settings.erp_schema, ENV_PAUSE_AT: f"{pause_at}=120",
        "RETAILOPS_WRITEBACK_MAX_CHANGE_PCT": "50", "RETAILOPS_WRITEBACK_MAX_CHANGE_AT_COST": "500",
    })
    return subprocess.Popen(
        [sys.executable, "-c", code, str(harness.warehouse), str(harness.settings.outbound_dir), run_id],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_pause(process: subprocess.Popen, pause_at: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 0.5)
        if ready:
            line = process.stderr.readline()
            seen.append(line)
            if f"paused at {pause_at}" in line:
                return
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"writer never reached {pause_at}: {''.join(seen)}{process.stderr.read()}")


def _kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    process.stdout.close()
    process.stderr.close()


def _visible_writer_transaction(harness: Harness) -> str | None:
    rows = harness.pg_admin.execute(
        "select state from pg_stat_activity where application_name = 'retailops-writeback' and datname = 'test' "
        "and usename = 'retailops_writeback' and state = 'idle in transaction'"
    ).fetchall()
    return rows[0][0] if rows else None


@pytest.mark.slow
@pytest.mark.parametrize("pause_at", ["mid_batch", "before_record"])
def test_killed_mid_batch_then_rerun_completes_it(harness: Harness, pause_at: str, tmp_path: Path) -> None:
    run_writeback(harness.settings, ALL_FAMILIES, "run-1", "test")
    old_values, old_batches = harness.values(), harness.batch_ids()
    write_forecast(harness.warehouse, targets=RAISED_TARGETS, uplift=RAISED_UPLIFT)
    new_values = expected_values(RAISED_TARGETS, RAISED_UPLIFT)

    process = _writer_process(harness, pause_at, "run-killed")
    _wait_for_pause(process, pause_at)
    if pause_at == "mid_batch":
        # Half the rows are in the target's open transaction / the first file is in place: a reader
        # still sees exactly the old values and no new batch.
        if harness.kind == "postgres":
            assert _visible_writer_transaction(harness) == "idle in transaction"
        else:
            stray = [p.name for p in harness.settings.outbound_dir.glob("*.csv")
                     if p.stem.rsplit("_", 1)[1] not in old_batches]
            assert len(stray) == 1, stray  # one file of the new batch written, its manifest not
        assert harness.values() == old_values and harness.batch_ids() == old_batches
    _kill(process)

    with connect(harness.warehouse, read_only=True) as con:
        killed = con.execute("select batch_id, status from writeback.batches where run_id = 'run-killed'").fetchall()
    assert len(killed) == 1 and killed[0][1] == "prepared"
    killed_batch = killed[0][0]
    if pause_at == "mid_batch":
        assert harness.values() == old_values and harness.batch_ids() == old_batches
    else:  # the target committed before the kill; the warehouse had not recorded it yet
        assert harness.values() == new_values and harness.batch_ids() == old_batches | {killed_batch}

    rerun = run_writeback(harness.settings, ALL_FAMILIES, "run-after-kill", "test")
    assert rerun.completed_earlier == [killed_batch]
    assert rerun.batch is None and rerun.unchanged == 19
    assert harness.values() == new_values
    assert harness.batch_ids() == old_batches | {killed_batch}
    with connect(harness.warehouse, read_only=True) as con:
        written = con.execute(
            "select count(*), count(distinct (item_id, location_id, target_type, effective_date)) "
            "from writeback.audit_log where decision = 'written' and batch_id = ?", [killed_batch]
        ).fetchall()[0]
        statuses = con.execute("select distinct status from writeback.batches").fetchall()
    # Each change recorded once, however often the batch was attempted (the two zero suggested orders
    # stay zero at +10 %, so 17 of the 19 keys change).
    changed = sum(new_values[key] != old_values[key] for key in new_values)
    assert changed == 17 and written == (changed, changed)
    assert statuses == [("written",)]
    if harness.kind == "files":
        from writeback.files import verify_manifest

        manifests = sorted(harness.settings.outbound_dir.glob("manifest_*.json"))
        assert all(verify_manifest(m) == [] for m in manifests)
        assert not list(harness.settings.outbound_dir.glob(".*.tmp"))

    # The same two forecasts written by uninterrupted runs end in the same values, batch for batch.
    clean_warehouse = tmp_path / "clean.duckdb"
    write_forecast(clean_warehouse)
    clean = make_settings(clean_warehouse, tmp_path / "clean_outbound", "files")
    run_writeback(clean, ALL_FAMILIES, "clean-1", "test")
    write_forecast(clean_warehouse, targets=RAISED_TARGETS, uplift=RAISED_UPLIFT)
    run_writeback(clean, ALL_FAMILIES, "clean-2", "test")
    clean_harness = Harness("files", clean)
    assert harness.values() == clean_harness.values()
    assert len(harness.batch_ids()) == len(clean_harness.batch_ids()) == 2
    assert _normalised_state(harness.warehouse) == _normalised_state(clean_warehouse)


def _normalised_state(warehouse: Path) -> dict:
    """Writeback state without ids, times and run names, which differ between any two runs."""
    with connect(warehouse, read_only=True) as con:
        return {
            "key_state": con.execute("select item_id, location_id, target_type, effective_date, value "
                                     "from writeback.key_state order by all").fetchall(),
            "audit": con.execute("select decision, item_id, location_id, target_type, effective_date, old_value, "
                                 "new_value from writeback.audit_log order by all").fetchall(),
            "batches": con.execute("select status, row_count, content_sha256 from writeback.batches "
                                   "order by all").fetchall(),
        }


def test_file_batch_manifest_describes_the_batch(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    write_forecast(warehouse)
    result = run_writeback(make_settings(warehouse, tmp_path / "out", "files"), ALL_FAMILIES, "run-1", "test")
    manifest = json.loads((tmp_path / "out" / f"manifest_{result.batch.batch_id}.json").read_text())
    assert manifest["batch_id"] == result.batch.batch_id and manifest["model_version"] == "test-model-v1"
    assert manifest["run_id"] == "run-1" and manifest["values"] == "absolute"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", manifest["created_at"])
    counts = {f["target_type"]: f["row_count"] for f in manifest["files"]}
    assert counts == {"promotion_uplift": 3, "replenishment_targets": 4}
    # 7 rows in all, carrying 19 values (4 item-locations x 4 targets + 3 uplifts): the row count of
    # the batch in the warehouse and in PostgreSQL counts values.
    assert manifest["row_count"] == 7 and result.batch.row_count == 19
    lines = (tmp_path / "out" / f"replenishment_targets_{result.batch.batch_id}.csv").read_text().splitlines()
    assert lines[0] == ("item_id,location_id,effective_date,safety_stock_units,reorder_point_units,"
                        "order_up_to_units,suggested_order_units,model_version")
    assert lines[4] == "002,L2,2025-06-25,3.5,7.25,15.5,0,test-model-v1"


def test_bad_forecast_value_stops_the_batch_and_writes_nothing(harness: Harness) -> None:
    import duckdb

    from writeback.changes import WritebackInputError

    run_writeback(harness.settings, ALL_FAMILIES, "run-1", "test")
    target_before = harness.snapshot()
    audit_before = table_rows(harness.warehouse, "writeback.audit_log", "audit_id")
    write_forecast(harness.warehouse, targets=RAISED_TARGETS, uplift=RAISED_UPLIFT)
    with duckdb.connect(str(harness.warehouse)) as con:
        con.execute("update forecast.promotion_uplift set uplift_units = '-infinity'::double where promotion_id = 'P2'")
    expected = r"promotion 'P2', item '002', location 'L1'\): column 'uplift_units'"
    with pytest.raises(WritebackInputError, match=expected):
        run_writeback(harness.settings, ALL_FAMILIES, "run-2", "test")
    assert harness.snapshot() == target_before
    assert table_rows(harness.warehouse, "writeback.audit_log", "audit_id") == audit_before
    assert len(table_rows(harness.warehouse, "writeback.batches")) == 1
