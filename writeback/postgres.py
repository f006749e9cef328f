"""The PostgreSQL target: ERP staging tables written with psycopg, one transaction per batch.

`<schema>.writeback_batches` records every batch the ERP has received; a batch already there is a
no-op, so a rerun changes nothing. `<schema>.planning_targets` holds the absolute value per business
key (item, location, target type, effective date), upserted. Readers in other sessions see a batch
all at once at commit, or not at all. The connection is in autocommit mode, so the only open
transactions are the explicit ones: DDL, and one per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from writeback.changes import format_value
from writeback.settings import pause_point, redact
from writeback.state import Batch
from writeback.targets import Delivery, WritebackTargetError

CHUNK_ROWS = 10_000


def role_grants_sql(schema: str, role: str, database: str) -> list[str]:
    """What an ERP DBA runs (as the schema's owner) so `role` may write only the staging schema.

    PUBLIC may create temporary tables in every database by default, so that is revoked too (roles
    that need temporary tables then need `grant temporary on database … to …`).
    """
    return [
        f"create schema if not exists {schema}",
        f"revoke all on schema {schema} from public",
        f"grant usage, create on schema {schema} to {role}",
        f"revoke temporary on database {database} from public",
    ]


def _ddl(schema: str) -> list[sql.Composed]:
    s = sql.Identifier(schema)
    return [
        sql.SQL("""create table if not exists {}.writeback_batches (
            batch_id text primary key,
            origin text not null,
            run_id text not null,
            model_version text,
            row_count integer not null,
            content_sha256 text not null,
            created_at timestamptz not null,
            rolls_back text,
            committed_at timestamptz not null default now())""").format(s),
        sql.SQL("""create table if not exists {}.planning_targets (
            item_id text not null,
            location_id text not null,
            target_type text not null,
            effective_date date not null,
            value numeric not null,
            promotion_id text,
            end_date date,
            model_version text,
            batch_id text not null references {}.writeback_batches (batch_id),
            updated_at timestamptz not null default now(),
            primary key (item_id, location_id, target_type, effective_date))""").format(s, s),
    ]


class PostgresTarget:
    """ERP staging tables in `schema`, reached through a libpq DSN (empty: the PG* environment variables)."""

    kind = "postgres"

    def __init__(self, dsn: str, schema: str, connect_timeout: int = 10) -> None:
        self._dsn = dsn
        self.schema = schema
        try:
            self._conn = psycopg.connect(
                dsn, connect_timeout=connect_timeout, application_name="retailops-writeback", autocommit=True
            )
        except Exception as exc:  # psycopg's message may quote the DSN: redact before it travels anywhere
            raise WritebackTargetError(
                f"cannot connect to the ERP staging database: {redact(str(exc), dsn)}"
            ) from None
        info = self._conn.info
        self.destination = f"postgresql://{info.host}:{info.port}/{info.dbname}#{schema}"
        self._run(self.ensure_tables)

    def __repr__(self) -> str:
        return f"PostgresTarget({self.destination!r})"

    def close(self) -> None:
        self._conn.close()

    def _run(self, action, *args):
        try:
            return action(*args)
        except WritebackTargetError:
            raise
        except psycopg.Error as exc:
            raise WritebackTargetError(f"{self.destination}: {redact(str(exc), self._dsn)}") from None

    def ensure_tables(self) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            for statement in _ddl(self.schema):
                cur.execute(statement)

    def deliver(self, batch: Batch) -> Delivery:
        return self._run(self._deliver, batch)

    def _deliver(self, batch: Batch) -> Delivery:
        record = batch.record
        s = sql.Identifier(self.schema)
        with self._conn.transaction(), self._conn.cursor() as cur:
            # Claim the batch first: a concurrent writer of the same batch waits here, then finds it done.
            cur.execute(
                sql.SQL("""insert into {}.writeback_batches
                           (batch_id, origin, run_id, model_version, row_count, content_sha256, created_at, rolls_back)
                           values (%s, %s, %s, %s, %s, %s, %s, %s)
                           on conflict (batch_id) do nothing returning batch_id""").format(s),
                [record.batch_id, record.origin, record.run_id, record.model_version, record.row_count,
                 record.content_sha256, _utc(record.created_at), record.rolls_back],
            )
            if cur.fetchone() is None:
                return Delivery(record.batch_id, already_written=True, rows=record.row_count)
            writes = list(batch.writes)
            half = len(writes) // 2
            for start in range(0, half, CHUNK_ROWS):
                self._upsert(cur, record.batch_id, writes[start:min(start + CHUNK_ROWS, half)])
            pause_point("mid_batch")  # the kill tests stop here: half the rows written, nothing committed
            for start in range(half, len(writes), CHUNK_ROWS):
                self._upsert(cur, record.batch_id, writes[start:start + CHUNK_ROWS])
            cur.execute(sql.SQL("select count(*) from {}.planning_targets where batch_id = %s").format(s),
                        [record.batch_id])
            landed = cur.fetchone()[0]
            if landed != record.row_count:
                raise WritebackTargetError(
                    f"batch {record.batch_id}: {landed} rows carry the batch id, expected {record.row_count}; "
                    "rolled back"
                )
        return Delivery(record.batch_id, already_written=False, rows=record.row_count)

    def _upsert(self, cur: psycopg.Cursor, batch_id: str, writes: Sequence) -> None:
        if not writes:
            return
        cur.execute(
            sql.SQL("""insert into {}.planning_targets
                       (item_id, location_id, target_type, effective_date, value, promotion_id, end_date,
                        model_version, batch_id, updated_at)
                       select item_id, location_id, target_type, effective_date, value, promotion_id, end_date,
                              model_version, %s, now()
                       from unnest(%s::text[], %s::text[], %s::text[], %s::date[], %s::numeric[], %s::text[],
                                   %s::date[], %s::text[])
                            as incoming(item_id, location_id, target_type, effective_date, value, promotion_id,
                                        end_date, model_version)
                       on conflict (item_id, location_id, target_type, effective_date) do update set
                         value = excluded.value, promotion_id = excluded.promotion_id, end_date = excluded.end_date,
                         model_version = excluded.model_version, batch_id = excluded.batch_id,
                         updated_at = excluded.updated_at""").format(sql.Identifier(self.schema)),
            [
                batch_id,
                [w.key[0] for w in writes], [w.key[1] for w in writes], [w.key[2] for w in writes],
                [w.key[3] for w in writes], [format_value(w.value) for w in writes],
                [w.promotion_id for w in writes], [w.end_date for w in writes], [w.model_version for w in writes],
            ],
        )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
