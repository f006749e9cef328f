"""Fixtures: a small warehouse, the PostgreSQL test database with a least-privilege role, and a
harness that runs writeback against either target and reads back what the ERP would see.

PostgreSQL tests use the `test` database on 127.0.0.1:5432, each in its own schema (dropped
afterwards). They skip when the server is unreachable, unless CI is set: then they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.writeback.helpers import file_values, folder_snapshot, write_forecast
from writeback.settings import WritebackSettings

PG_ADMIN_DSN = os.environ.get("RETAILOPS_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_WRITER_ROLE = "retailops_writeback"
ALL_FAMILIES = ["promotion_uplift", "replenishment_targets"]


def _admin_connection():
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN} (set CI=true to make this a failure)")


@pytest.fixture(scope="session")
def pg_admin():
    """A superuser connection to the `test` database, with the writeback role created if missing."""
    import psycopg

    conn = _admin_connection()
    try:
        conn.execute(
            f"""do $$ begin
                  if not exists (select from pg_roles where rolname = '{PG_WRITER_ROLE}') then
                    create role {PG_WRITER_ROLE} login nosuperuser nocreatedb nocreaterole;
                  end if;
                end $$"""
        )
    except psycopg.errors.DuplicateObject:  # another session created it at the same moment
        pass
    yield conn
    conn.close()


@pytest.fixture
def erp_schema(pg_admin) -> Iterator[str]:
    """A fresh staging schema on which only the writeback role has USAGE and CREATE; dropped afterwards.

    The grants also revoke TEMPORARY on the `test` database from PUBLIC (only superusers and the
    writeback role use it)."""
    from writeback.postgres import role_grants_sql

    schema = f"erp_staging_t{uuid.uuid4().hex[:10]}"
    (database,) = pg_admin.execute("select current_database()").fetchone()
    # Test processes run side by side (make test: pytest -n 2): concurrent GRANT/REVOKE on the
    # same database or role fails with "tuple concurrently updated", so they take turns.
    pg_admin.execute("select pg_advisory_lock(20261203)")
    try:
        for statement in role_grants_sql(schema, PG_WRITER_ROLE, database):
            pg_admin.execute(statement)
    finally:
        pg_admin.execute("select pg_advisory_unlock(20261203)")
    yield schema
    pg_admin.execute(f"drop schema if exists {schema} cascade")


def writer_dsn(password: str = "not-checked-by-trust-auth") -> str:
    return f"postgresql://{PG_WRITER_ROLE}:{password}@127.0.0.1:5432/test"


@dataclass
class Harness:
    """One target under test: settings for the engine, and what the ERP would read from it."""

    kind: str
    settings: WritebackSettings
    pg_admin: object | None = None

    @property
    def warehouse(self) -> Path:
        return self.settings.warehouse

    def with_thresholds(self, max_change_pct: float, max_change_at_cost: float) -> WritebackSettings:
        s = self.settings
        return WritebackSettings.from_values(
            warehouse=s.warehouse, outbound_dir=s.outbound_dir, target=s.target, dsn=s.dsn,
            erp_schema=s.erp_schema, max_change_pct=max_change_pct, max_change_at_cost=max_change_at_cost,
        )

    def values(self) -> dict[tuple, float]:
        """Business key -> value in force in the target (files: every complete batch in order)."""
        if self.kind == "files":
            return file_values(self.settings.outbound_dir) if self.settings.outbound_dir.exists() else {}
        rows = self.pg_admin.execute(
            f"""select item_id, location_id, target_type, effective_date, value::float8
                from {self.settings.erp_schema}.planning_targets"""
        ).fetchall()
        return {(r[0], r[1], r[2], r[3]): r[4] for r in rows}

    def snapshot(self):
        """Everything the target holds, byte for byte (files) or row for row (tables)."""
        if self.kind == "files":
            folder = self.settings.outbound_dir
            return folder_snapshot(folder) if folder.exists() else {}
        schema = self.settings.erp_schema
        return (
            self.pg_admin.execute(f"select * from {schema}.planning_targets order by 1, 2, 3, 4").fetchall(),
            self.pg_admin.execute(f"select * from {schema}.writeback_batches order by 1").fetchall(),
        )

    def batch_ids(self) -> set[str]:
        """Batches the target has received completely."""
        if self.kind == "files":
            folder = self.settings.outbound_dir
            return {p.stem.removeprefix("manifest_") for p in folder.glob("manifest_*.json")} if folder.exists() \
                else set()
        rows = self.pg_admin.execute(f"select batch_id from {self.settings.erp_schema}.writeback_batches").fetchall()
        return {r[0] for r in rows}


def make_settings(warehouse: Path, outbound: Path, target: str, dsn: str = "", schema: str = "erp_staging",
                  max_change_pct: float = 50, max_change_at_cost: float = 500) -> WritebackSettings:
    return WritebackSettings.from_values(
        warehouse=warehouse, outbound_dir=outbound, target=target, dsn=dsn, erp_schema=schema,
        max_change_pct=max_change_pct, max_change_at_cost=max_change_at_cost,
    )


@pytest.fixture(params=["files", pytest.param("postgres", marks=pytest.mark.postgres)])
def harness(request, tmp_path: Path) -> Harness:
    """The same test against the file target and against PostgreSQL staging tables."""
    warehouse = tmp_path / "warehouse.duckdb"
    write_forecast(warehouse)
    if request.param == "files":
        return Harness("files", make_settings(warehouse, tmp_path / "outbound", "files"))
    pg_admin = request.getfixturevalue("pg_admin")
    schema = request.getfixturevalue("erp_schema")
    return Harness("postgres", make_settings(warehouse, tmp_path / "outbound", "postgres", writer_dsn(), schema),
                   pg_admin)
