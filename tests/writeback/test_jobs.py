"""Dagster wiring (jobs, schedules, the approved-promotions sensor, the run-failure alert), the
`retailops review` / `retailops writeback rollback` commands, and state kept across the warehouse swap."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.alerts import RunFailureAlert, deliver_alert
from tests.writeback.conftest import ALL_FAMILIES, Harness, make_settings
from tests.writeback.helpers import (
    AS_OF,
    BASE_TARGETS,
    BASE_UPLIFT,
    expected_values,
    table_rows,
    write_forecast,
)
from writeback.engine import run_writeback
from writeback.settings import (
    ENV_ALERT_LOG,
    ENV_ALERT_WEBHOOK,
    ENV_ERP_DSN,
    ENV_ERP_SCHEMA,
    ENV_MAX_CHANGE_AT_COST,
    ENV_MAX_CHANGE_PCT,
    ENV_TARGET,
)
from writeback.state import WritebackStateError, preserved_writeback_state, verify_audit_log

# Loading the Dagster definitions needs the dbt manifest (parsed once per session).
pytestmark = pytest.mark.usefixtures("dbt_manifest")


@pytest.fixture
def files_env(tmp_path: Path, monkeypatch) -> Path:
    """Environment for the Dagster jobs and the CLI: file target, a small warehouse, an alert log."""
    warehouse = tmp_path / "warehouse.duckdb"
    write_forecast(warehouse)
    for name, value in {
        ENV_TARGET: "files", ENV_ERP_DSN: "", ENV_ERP_SCHEMA: "erp_staging", ENV_MAX_CHANGE_PCT: "50",
        ENV_MAX_CHANGE_AT_COST: "500", ENV_ALERT_LOG: str(tmp_path / "alerts.log"), ENV_ALERT_WEBHOOK: "",
        "RETAILOPS_WAREHOUSE": str(warehouse), "RETAILOPS_OUTBOUND_DIR": str(tmp_path / "outbound"),
        "RETAILOPS_LANDING_DIR": str(tmp_path / "landing"),
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_writeback_is_its_own_jobs_with_schedules_and_a_sensor() -> None:
    from dagster import AssetKey

    from orchestration.definitions import defs

    writeback_key = AssetKey(["writeback", "erp_outbound_files"])
    assert writeback_key not in defs.resolve_job_def("retailops_main").asset_layer.selected_asset_keys
    for job in ("retailops_writeback", "retailops_writeback_replenishment", "retailops_writeback_uplift"):
        assert defs.resolve_job_def(job).asset_layer.selected_asset_keys == {writeback_key}
    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    assert schedules["retailops_writeback_replenishment_daily"].cron_schedule == "0 5 * * *"
    assert schedules["retailops_writeback_replenishment_daily"].job_name == "retailops_writeback_replenishment"
    assert schedules["retailops_writeback_uplift_daily"].job_name == "retailops_writeback_uplift"
    sensors = {s.name: s for s in defs.get_repository_def().sensor_defs}
    assert sensors["retailops_approved_promotions"].job_name == "retailops_writeback_uplift"
    assert "retailops_run_failure_alert" in sensors


def test_family_jobs_write_only_their_family(files_env: Path) -> None:
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    expected = expected_values()
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("retailops_writeback_replenishment").execute_in_process(instance=instance)
        materialization = result.get_asset_materialization_events()[0].materialization
        assert materialization.metadata["values_written"].value == 16
        harness = Harness("files", make_settings(files_env / "warehouse.duckdb", files_env / "outbound", "files"))
        assert harness.values() == {k: v for k, v in expected.items() if k[2] != "uplift_units"}
        defs.resolve_job_def("retailops_writeback_uplift").execute_in_process(instance=instance)
        assert harness.values() == expected
        again = defs.resolve_job_def("retailops_writeback").execute_in_process(instance=instance)
        metadata = again.get_asset_materialization_events()[0].materialization.metadata
        assert metadata["batch_id"].value == "" and metadata["unchanged"].value == 19


def test_sensor_requests_uplift_writeback_when_approved_promotions_change(files_env: Path) -> None:
    from dagster import SensorResult, SkipReason

    from orchestration.writeback import approved_promotions_request

    warehouse = str(files_env / "warehouse.duckdb")
    first = approved_promotions_request(warehouse, None)
    assert isinstance(first, SensorResult) and len(first.run_requests) == 1
    assert first.cursor == first.run_requests[0].run_key.removeprefix("approved-promotions-")
    assert first.cursor.startswith("2:")  # P1 and P2
    assert isinstance(approved_promotions_request(warehouse, first.cursor), SkipReason)
    write_forecast(files_env / "warehouse.duckdb",
                   uplift=[*BASE_UPLIFT, ("P3", "002", "L2", date(2025, 7, 17), date(2025, 7, 30), 4.0)])
    second = approved_promotions_request(warehouse, first.cursor)
    assert isinstance(second, SensorResult) and second.cursor.startswith("3:")
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    # While another process writes the warehouse the sensor skips (None) instead of failing.
    with duckdb.connect(warehouse):
        code = ("import sys\nfrom writeback.changes import approved_promotions_fingerprint\n"
                "print(approved_promotions_fingerprint(sys.argv[1]))")
        out = subprocess.run([sys.executable, "-c", code, warehouse], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"
    assert isinstance(approved_promotions_request(str(files_env / "missing.duckdb"), None), SkipReason)


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        return None


def test_alert_goes_to_the_log_and_the_webhook_without_the_token(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        alert = RunFailureAlert("retailops_writeback", "run-9", "2026-01-01T05:00:00+00:00", "boom", ("step",))
        url = f"http://127.0.0.1:{server.server_port}/hook?token=tok-secret-123"
        assert deliver_alert(alert, tmp_path / "a" / "alerts.log", url) == "log+webhook"
    finally:
        server.shutdown()
    assert _Receiver.received[-1]["run_id"] == "run-9" and _Receiver.received[-1]["failed_steps"] == ["step"]
    line = json.loads((tmp_path / "a" / "alerts.log").read_text().splitlines()[-1])
    assert line["job_name"] == "retailops_writeback" and line["webhook"] == "delivered (HTTP 200)"
    # A webhook that cannot be reached still leaves the alert in the log, and the URL's token nowhere.
    assert deliver_alert(alert, tmp_path / "a" / "alerts.log", "http://127.0.0.1:1/hook?token=tok-secret-123") == "log"
    lines = (tmp_path / "a" / "alerts.log").read_text()
    assert len(lines.splitlines()) == 2 and "failed" in lines and "tok-secret-123" not in lines


def test_failed_writeback_run_raises_an_alert(files_env: Path, monkeypatch) -> None:
    from dagster import DagsterInstance, build_run_status_sensor_context

    from orchestration.alerts import run_failure_alert
    from orchestration.definitions import defs

    monkeypatch.setenv(ENV_MAX_CHANGE_PCT, "lots")
    with DagsterInstance.ephemeral() as instance:
        failed = defs.resolve_job_def("retailops_writeback_replenishment").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not failed.success
        context = build_run_status_sensor_context(
            sensor_name="retailops_run_failure_alert", dagster_event=failed.get_run_failure_event(),
            dagster_instance=instance, dagster_run=failed.dagster_run,
            resources=defs.get_repository_def().get_top_level_resources(),
        ).for_run_failure()
        run_failure_alert(context)
    (line,) = (files_env / "alerts.log").read_text().splitlines()
    alert = json.loads(line)
    assert alert["job_name"] == "retailops_writeback_replenishment"
    assert alert["run_id"] == failed.run_id and alert["failed_steps"] == ["writeback__erp_outbound_files"]


def test_review_and_rollback_commands(files_env: Path, capsys) -> None:
    from orchestration.cli import main

    warehouse = files_env / "warehouse.duckdb"
    first = run_writeback(make_settings(warehouse, files_env / "outbound", "files"), ALL_FAMILIES, "r1", "t")
    changed = dict(BASE_TARGETS)
    changed[("001", "L1")] = (10.0, 25.0, 70.0, 12.0)   # 40 -> 70: held (75 %)
    changed[("002", "L1")] = (4.0, 9.0, 90.0, 6.0)      # 20 -> 90: held (350 %, 700 at cost)
    write_forecast(warehouse, targets=changed)
    run_writeback(make_settings(warehouse, files_env / "outbound", "files"), ALL_FAMILIES, "r2", "t")
    capsys.readouterr()

    assert main(["review", "list"]) == 0
    listing = capsys.readouterr().out
    assert "2 review(s)" in listing and "75.0" in listing and "700.00" in listing
    assert main(["review", "approve", "1", "--by", "alice", "--note", "checked"]) == 0
    assert "approved review(s) 1" in capsys.readouterr().out
    assert main(["review", "reject", "--all", "--by", "bob"]) == 0
    assert "rejected review(s) 2" in capsys.readouterr().out
    assert main(["review", "approve", "2"]) == 2
    assert "only pending reviews can be decided: 2 is rejected" in capsys.readouterr().err
    assert main(["review", "approve", "1", "--all"]) == 2
    assert main(["review", "list", "--status", "all"]) == 0
    assert "approved" in capsys.readouterr().out

    assert main(["writeback", "rollback", "0000000000000000"]) == 2
    assert "no batch '0000000000000000'" in capsys.readouterr().err
    assert main(["writeback", "rollback", first.batch.batch_id]) == 2
    assert "nothing to roll back: none of the 19 values" in capsys.readouterr().err
    audit = table_rows(warehouse, "writeback.audit_log", "audit_id")
    assert [(r[2], r[13], r[14], r[15]) for r in audit[-2:]] == [
        ("approved", 1, "alice", "checked"), ("rejected", 2, "bob", None)]


def test_rollback_command_writes_a_compensating_batch(files_env: Path, capsys) -> None:
    from orchestration.cli import main

    warehouse = files_env / "warehouse.duckdb"
    settings = make_settings(warehouse, files_env / "outbound", "files")
    run_writeback(settings, ALL_FAMILIES, "r1", "t")
    changed = dict(BASE_TARGETS)
    changed[("002", "L1")] = (4.0, 9.0, 26.0, 6.0)      # 20 -> 26: out
    write_forecast(warehouse, targets=changed)
    second = run_writeback(settings, ALL_FAMILIES, "r2", "t")
    capsys.readouterr()
    assert main(["writeback", "rollback", second.batch.batch_id, "--by", "carol"]) == 0
    out = capsys.readouterr().out
    assert f"rolls back {second.batch.batch_id}" in out
    assert Harness("files", settings).values()[("002", "L1", "order_up_to_units", AS_OF)] == 20.0


def test_state_changed_during_a_build_survives_the_warehouse_swap(tmp_path: Path) -> None:
    live = tmp_path / "retail.duckdb"
    write_forecast(live)
    settings = make_settings(live, tmp_path / "out", "files", max_change_pct=0, max_change_at_cost=0)
    run_writeback(settings, ALL_FAMILIES, "r1", "t")
    building = tmp_path / ".retail.duckdb.building"
    shutil.copyfile(live, building)  # what `retailops run` does when it starts
    from writeback.engine import review_decide

    review_decide(live, [1, 2], "approved", "alice")  # decided while the build runs
    run_writeback(settings, ALL_FAMILIES, "r2", "t")
    live_audit = table_rows(live, "writeback.audit_log", "audit_id")
    live_reviews = table_rows(live, "writeback.review_queue", "review_id")
    with preserved_writeback_state(live, building):
        shutil.move(building, live)
    assert table_rows(live, "writeback.audit_log", "audit_id") == live_audit
    assert table_rows(live, "writeback.review_queue", "review_id") == live_reviews
    assert len(live_audit) == 17 + 2 + 2 + 2  # held, 2 written (zeros), approved, written
    with duckdb.connect(str(live), read_only=True) as con:
        check = verify_audit_log(con)
    assert check.ok and check.rows == 23


def _live_and_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A live warehouse with one batch of 19 values (audit rows 1-19) and the copy a build starts from."""
    live = tmp_path / "retail.duckdb"
    write_forecast(live)
    run_writeback(make_settings(live, tmp_path / "out", "files"), ALL_FAMILIES, "r1", "t")
    building = tmp_path / "building.duckdb"
    shutil.copyfile(live, building)
    return live, building


def _rehash_last_live_row(live: Path) -> list[str]:
    """Edit the live log's last row and fix its hash, so the live chain verifies on its own."""
    from writeback.state import AUDIT_ROW_TEXT, audit_row_hash

    with duckdb.connect(str(live)) as con:
        con.execute("update writeback.audit_log set decided_by = 'mallory' where audit_id = 19")
        (text,) = con.execute(f"select {AUDIT_ROW_TEXT} from writeback.audit_log a where audit_id = 19").fetchone()
        (previous,) = con.execute("select row_sha256 from writeback.audit_chain where audit_id = 18").fetchone()
        return [f"update writeback.audit_chain set row_sha256 = '{audit_row_hash(previous, text)}' "
                "where audit_id = 19"]


SWAP_TAMPERING = {
    "middle row deleted": (lambda live: ["delete from writeback.audit_log where audit_id = 3"],
                           "fails verification: audit row 3 was deleted"),
    "row edited": (lambda live: ["update writeback.audit_log set new_value = 0 where audit_id = 5"],
                   "fails verification: audit row 5 does not match its hash"),
    "last row deleted with its hash": (
        lambda live: ["delete from writeback.audit_log where audit_id = 19",
                      "delete from writeback.audit_chain where audit_id = 19"],
        r"lacks rows the rebuilt copy has \(it ends at audit row 18, the copy at 19\)"),
    "last row edited and rehashed": (_rehash_last_live_row,
                                     "differs from the rebuilt copy's at or before audit row 19"),
}


@pytest.mark.parametrize("case", SWAP_TAMPERING, ids=list(SWAP_TAMPERING))
def test_swap_refuses_when_the_live_audit_log_was_altered(tmp_path: Path, case: str) -> None:
    live, building = _live_and_copy(tmp_path)
    statements, message = SWAP_TAMPERING[case]
    with duckdb.connect(str(live)) as con:  # tampering with the live log while the build runs
        for statement in statements(live):
            con.execute(statement)
    copy_before = [table_rows(building, f"writeback.{t}") for t in ("audit_log", "audit_chain", "batches")]
    swapped = False
    with pytest.raises(WritebackStateError, match=message), preserved_writeback_state(live, building):
        swapped = True
    assert not swapped
    # The copy's writeback state is as it was: the carrying-over transaction rolled back or never began.
    assert [table_rows(building, f"writeback.{t}") for t in ("audit_log", "audit_chain", "batches")] == copy_before
    assert len(copy_before[0]) == 19


def test_swap_of_a_warehouse_from_before_the_chain_chains_both_and_carries_the_log(tmp_path: Path) -> None:
    live, _ = _live_and_copy(tmp_path)
    with duckdb.connect(str(live)) as con:
        con.execute("drop table writeback.audit_chain")  # as written before the chain existed
    building = tmp_path / "old_copy.duckdb"
    shutil.copyfile(live, building)
    with preserved_writeback_state(live, building):
        shutil.move(building, live)
    with duckdb.connect(str(live), read_only=True) as con:
        check = verify_audit_log(con)
    assert check.ok and check.rows == 19 and check.chained_at_migration == 19
