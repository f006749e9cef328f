"""Security: the writeback role can touch only its staging schema, and the DSN's password never lands
in a log line, a Dagster event, a warehouse table, the warehouse file, an alert or a file written."""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import psycopg
import pytest

from tests.writeback.conftest import PG_WRITER_ROLE, writer_dsn
from tests.writeback.helpers import BASE_TARGETS, write_forecast
from writeback.settings import (
    ENV_ALERT_LOG,
    ENV_ALERT_WEBHOOK,
    ENV_ERP_DSN,
    ENV_ERP_SCHEMA,
    ENV_MAX_CHANGE_AT_COST,
    ENV_MAX_CHANGE_PCT,
    ENV_TARGET,
)

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("dbt_manifest")]


@pytest.fixture
def other_schema(pg_admin):
    """A schema the writeback role was never granted anything on, holding one table of ERP data."""
    schema = f"erp_core_t{uuid.uuid4().hex[:10]}"
    pg_admin.execute(f"create schema {schema}")
    pg_admin.execute(f"create table {schema}.item_prices (item_id text primary key, price numeric)")
    pg_admin.execute(f"insert into {schema}.item_prices values ('001', 2.50)")
    yield schema
    pg_admin.execute(f"drop schema if exists {schema} cascade")


def test_writeback_role_reaches_only_its_staging_schema(pg_admin, erp_schema: str, other_schema: str) -> None:
    attributes = pg_admin.execute(
        "select rolsuper, rolcreatedb, rolcreaterole, rolbypassrls from pg_roles where rolname = %s",
        [PG_WRITER_ROLE],
    ).fetchone()
    assert attributes == (False, False, False, False)
    with psycopg.connect(writer_dsn(), autocommit=True) as writer:
        # What writeback needs: create its tables in the staging schema, then read and write them.
        writer.execute(f"create table {erp_schema}.probe (a int)")
        writer.execute(f"insert into {erp_schema}.probe values (1)")
        assert writer.execute(f"select a from {erp_schema}.probe").fetchall() == [(1,)]
        forbidden = [
            f"select * from {other_schema}.item_prices",
            f"insert into {other_schema}.item_prices values ('002', 1)",
            f"update {other_schema}.item_prices set price = 0",
            f"delete from {other_schema}.item_prices",
            f"create table {other_schema}.planted (a int)",
            "create table public.planted (a int)",
            f"create schema planted_{uuid.uuid4().hex[:6]}",
            "create temporary table planted (a int)",
        ]
        for statement in forbidden:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                writer.execute(statement)
    assert pg_admin.execute(f"select item_id, price::float8 from {other_schema}.item_prices").fetchall() == [
        ("001", 2.5)]
    # Other roles (PUBLIC) get nothing on the staging schema, and neither PUBLIC nor the writeback role
    # may create temporary tables in the database.
    granted = pg_admin.execute(
        "select has_schema_privilege('public', %s, 'USAGE'), has_schema_privilege(%s, %s, 'USAGE'), "
        "has_schema_privilege(%s, %s, 'CREATE'), has_database_privilege('public', current_database(), 'TEMP'), "
        "has_database_privilege(%s, current_database(), 'TEMP')",
        [erp_schema, PG_WRITER_ROLE, erp_schema, PG_WRITER_ROLE, erp_schema, PG_WRITER_ROLE],
    ).fetchone()
    assert granted == (False, True, True, False, False)


def _set_env(monkeypatch, tmp_path: Path, dsn: str, schema: str) -> None:
    for name, value in {
        ENV_TARGET: "postgres", ENV_ERP_DSN: dsn, ENV_ERP_SCHEMA: schema, ENV_MAX_CHANGE_PCT: "50",
        ENV_MAX_CHANGE_AT_COST: "500", ENV_ALERT_LOG: str(tmp_path / "logs" / "alerts.log"), ENV_ALERT_WEBHOOK: "",
        "RETAILOPS_WAREHOUSE": str(tmp_path / "warehouse.duckdb"), "RETAILOPS_OUTBOUND_DIR": str(tmp_path / "out"),
        "RETAILOPS_LANDING_DIR": str(tmp_path / "landing"),
    }.items():
        monkeypatch.setenv(name, value)


def test_password_appears_in_no_log_table_or_file(
    pg_admin, erp_schema: str, tmp_path: Path, monkeypatch, capfd, caplog
) -> None:
    from dagster import DagsterInstance, build_run_status_sensor_context

    from orchestration.alerts import run_failure_alert
    from orchestration.cli import main
    from orchestration.definitions import defs

    password = f"pw-{uuid.uuid4().hex}"
    warehouse = tmp_path / "warehouse.duckdb"
    write_forecast(warehouse)
    _set_env(monkeypatch, tmp_path, writer_dsn(password), erp_schema)
    texts: list[str] = []
    with DagsterInstance.ephemeral() as instance:
        ok = defs.resolve_job_def("retailops_writeback").execute_in_process(instance=instance)
        assert ok.success
        assert pg_admin.execute(f"select count(*) from {erp_schema}.planning_targets").fetchone() == (19,)

        # A second batch (one changed value), rolled back from the command line with the same DSN.
        changed = dict(BASE_TARGETS)
        changed[("002", "L1")] = (4.0, 9.0, 26.0, 6.0)
        write_forecast(warehouse, targets=changed)
        assert defs.resolve_job_def("retailops_writeback").execute_in_process(instance=instance).success
        batch_id = pg_admin.execute(
            f"select batch_id from {erp_schema}.writeback_batches order by committed_at desc limit 1"
        ).fetchone()[0]
        assert main(["writeback", "rollback", batch_id, "--warehouse", str(warehouse)]) == 0
        assert pg_admin.execute(f"select count(*) from {erp_schema}.writeback_batches").fetchone() == (3,)

        # A failing run: the same password, a port nobody listens on; then its run-failure alert.
        monkeypatch.setenv(ENV_ERP_DSN, f"postgresql://{PG_WRITER_ROLE}:{password}@127.0.0.1:1/test")
        failed = defs.resolve_job_def("retailops_writeback").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not failed.success
        failure_event = failed.get_run_failure_event()
        context = build_run_status_sensor_context(
            sensor_name="retailops_run_failure_alert", dagster_event=failure_event, dagster_instance=instance,
            dagster_run=failed.dagster_run, resources=defs.get_repository_def().get_top_level_resources(),
        ).for_run_failure()
        run_failure_alert(context)
        step_errors = [e.event_specific_data.error.to_string() for e in failed.all_events
                       if e.is_step_failure]
        assert step_errors and "cannot connect to the ERP staging database" in step_errors[0]
        texts += step_errors
        for run in instance.get_runs():
            texts.append(repr(run))
            texts += [entry.to_json() for entry in instance.all_logs(run.run_id)]

    alert_log = tmp_path / "logs" / "alerts.log"
    assert '"job_name": "retailops_writeback"' in alert_log.read_text()
    captured = capfd.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    # Every value in every warehouse table, as text; then the warehouse file's bytes themselves.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        for schema, table in tables:
            texts.append(repr(con.execute(f"select * from {schema}.{table}").fetchall()))
    assert len(tables) >= 9
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert warehouse in files and alert_log in files
    # And what the ERP sees.
    for table in ("planning_targets", "writeback_batches"):
        texts.append(repr(pg_admin.execute(f"select * from {erp_schema}.{table}").fetchall()))

    assert all(password not in text for text in texts)
    assert [p for p in files if password.encode() in p.read_bytes()] == []
    # The destination is named without credentials, so people can still tell where batches went.
    assert "postgresql://127.0.0.1:5432/test#" in "".join(texts)
