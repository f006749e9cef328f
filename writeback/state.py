"""Writeback state in the warehouse's `writeback` schema: batches, their rows, the value in force per
key, the review queue and the append-only audit log with its hash chain.

Every change of state is one DuckDB transaction, taken under a file lock beside the warehouse
(`.<warehouse>.writeback.lock`) so that a writeback, a review decision and `retailops run`'s
swap of a freshly built warehouse never interleave. Nothing here issues UPDATE or DELETE on
`writeback.audit_log` or `writeback.audit_chain`: every audit row gets a sha256 in
`writeback.audit_chain`, chained over the previous row's, in the transaction that appends it, and
`verify_audit_log` walks the chain to name the first row that was edited, deleted or moved.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from writeback.changes import CARRIED_FORWARD, FAMILIES, Hold, Key, Plan, Review, Write, format_value
from writeback.settings import WritebackError

SCHEMA_DDL = (
    "create schema if not exists writeback",
    """create table if not exists writeback.batches (
        batch_id varchar primary key,
        destination varchar not null,       -- files:<folder> or postgresql://host:port/db#schema, no credentials
        target_kind varchar not null,       -- files | postgres
        origin varchar not null,            -- scheduled | rollback
        run_id varchar not null,
        families varchar not null,
        model_version varchar,
        row_count integer not null,
        content_sha256 varchar not null,
        status varchar not null,            -- prepared | written
        created_at timestamp not null,      -- UTC
        created_by varchar not null,
        written_at timestamp,
        write_seq integer,                  -- order in which batches reached their destination
        rolls_back varchar,
        rolled_back_by varchar)""",
    """create table if not exists writeback.batch_rows (
        batch_id varchar not null,
        item_id varchar not null,
        location_id varchar not null,
        target_type varchar not null,
        effective_date date not null,
        value double not null,
        old_value double,
        promotion_id varchar,
        end_date date,
        model_version varchar,
        decision varchar not null,          -- auto | approved | rollback
        review_id bigint,
        primary key (batch_id, item_id, location_id, target_type, effective_date))""",
    """create table if not exists writeback.key_state (
        destination varchar not null,
        item_id varchar not null,
        location_id varchar not null,
        target_type varchar not null,
        effective_date date not null,
        value double not null,
        batch_id varchar not null,
        model_version varchar,
        written_at timestamp not null,
        primary key (destination, item_id, location_id, target_type, effective_date))""",
    """create table if not exists writeback.review_queue (
        review_id bigint primary key,
        destination varchar not null,
        item_id varchar not null,
        location_id varchar not null,
        target_type varchar not null,
        effective_date date not null,
        old_value double,
        new_value double not null,
        change_pct double,
        change_at_cost double,
        reason varchar not null,
        promotion_id varchar,
        end_date date,
        model_version varchar,
        origin varchar not null,            -- scheduled | rollback
        run_id varchar not null,
        status varchar not null,            -- pending | approved | rejected | superseded | written
        created_at timestamp not null,
        decided_by varchar,
        decided_at timestamp,
        written_batch_id varchar,
        rolls_back varchar)                 -- origin rollback: the batch this compensating change undoes""",
    """create table if not exists writeback.audit_log (
        audit_id bigint primary key,
        logged_at timestamp not null,
        decision varchar not null,          -- written | held | approved | rejected | superseded | rolled_back
        destination varchar not null,
        batch_id varchar,
        run_id varchar,
        model_version varchar,
        item_id varchar not null,
        location_id varchar not null,
        target_type varchar not null,
        effective_date date not null,
        old_value double,
        new_value double,
        review_id bigint,
        decided_by varchar not null,
        note varchar)""",
)

# One row per audit row, appended in the same transaction: row_sha256 = sha256(previous row's
# row_sha256 + "\n" + the row's canonical text, see audit_row_text); the first row chains from
# AUDIT_GENESIS. A separate table, so that chaining the rows of a warehouse that predates it is an
# append too, never a rewrite of audit_log.
AUDIT_CHAIN_DDL = """create table writeback.audit_chain (
    audit_id bigint primary key,
    row_sha256 varchar not null,
    chained_at timestamp not null,          -- UTC
    chained varchar not null)               -- appended (with its row) | migration (row predates the chain)"""
AUDIT_GENESIS = "0" * 64

STATE_TABLES = ("batches", "batch_rows", "key_state", "review_queue")
AUDIT_COLUMNS = (
    "audit_id", "logged_at", "decision", "destination", "batch_id", "run_id", "model_version", "item_id",
    "location_id", "target_type", "effective_date", "old_value", "new_value", "review_id", "decided_by", "note",
)


class WritebackStateError(WritebackError, RuntimeError):
    """A writeback command cannot proceed (unknown batch or review, wrong status, lock held)."""


@dataclass(frozen=True)
class BatchRecord:
    """A row of writeback.batches."""

    batch_id: str
    destination: str
    target_kind: str
    origin: str
    run_id: str
    families: tuple[str, ...]
    model_version: str | None
    row_count: int
    content_sha256: str
    status: str
    created_at: datetime
    created_by: str
    written_at: datetime | None = None
    write_seq: int | None = None
    rolls_back: str | None = None
    rolled_back_by: str | None = None


@dataclass(frozen=True)
class Batch:
    """A batch with its rows: everything a target needs to write it, read back from the warehouse."""

    record: BatchRecord
    writes: tuple[Write, ...]


def utc_now() -> datetime:
    """Naive UTC, as stored in the warehouse's timestamp columns."""
    return datetime.now(UTC).replace(tzinfo=None)


# --- connections and the lock -------------------------------------------------------------------------

_held_locks: dict[str, int] = {}
_held_guard = threading.Lock()


def lock_path(warehouse: Path) -> Path:
    return Path(warehouse).with_name(f".{Path(warehouse).name}.writeback.lock")


@contextmanager
def writeback_lock(warehouse: Path, timeout_seconds: float = 600.0) -> Iterator[None]:
    """Hold the warehouse's writeback lock (re-entrant within a process; released if the process dies)."""
    path = lock_path(warehouse)
    token = str(path.resolve())
    with _held_guard:
        if _held_locks.get(token):
            _held_locks[token] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_guard:
                _held_locks[token] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WritebackStateError(
                        f"another writeback holds {path} after {timeout_seconds:.0f} s; try again when it finishes"
                    ) from None
                time.sleep(0.1)
        with _held_guard:
            _held_locks[token] = 1
        try:
            yield
        finally:
            with _held_guard:
                _held_locks.pop(token, None)
            fcntl.flock(handle, fcntl.LOCK_UN)


def connect(warehouse: Path, read_only: bool = False, wait_seconds: float = 30.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting a little if another process has it open for writing."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(warehouse), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise WritebackStateError(f"cannot open the warehouse {warehouse}: {exc}") from exc
            time.sleep(0.25)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the writeback schema, or bring one written by an earlier version up to date."""
    for statement in SCHEMA_DDL:
        con.execute(statement)
    if not _has_column(con, "review_queue", "rolls_back"):
        with transaction(con):
            con.execute("alter table writeback.review_queue add column rolls_back varchar")
            # Rollback reviews always carried run_id 'rollback:<batch>'.
            con.execute("""update writeback.review_queue set rolls_back = substr(run_id, length('rollback:') + 1)
                           where origin = 'rollback' and run_id like 'rollback:%'""")
    if not _has_table(con, "audit_chain"):
        # A log written before the chain existed: its rows are chained now, as they stand, and marked so.
        with transaction(con):
            con.execute(AUDIT_CHAIN_DDL)
            if fetch_one(con, "select count(*) from writeback.audit_log")[0]:
                _chain_new_rows(con, 1, utc_now(), chained="migration")


def _has_table(con: duckdb.DuckDBPyConnection, table: str, catalog: str | None = None) -> bool:
    return bool(fetch_one(
        con, """select count(*) from information_schema.tables
                where table_schema = 'writeback' and table_name = ?
                  and table_catalog = coalesce(?, current_database())""",
        [table, catalog],
    )[0])


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return bool(fetch_one(
        con, """select count(*) from information_schema.columns
                where table_catalog = current_database() and table_schema = 'writeback' and table_name = ?
                  and column_name = ?""",
        [table, column],
    )[0])


def has_schema(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(fetch_one(
        con, """select count(*) from information_schema.tables
                where table_schema = 'writeback' and table_name = 'audit_log'"""
    )[0])


def fetch_one(con: duckdb.DuckDBPyConnection, query: str, params: Sequence | None = None) -> tuple | None:
    """The first row of a query, with the result fully consumed (DuckDB 2 refuses new work otherwise)."""
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


# --- batch identity -------------------------------------------------------------------------------------

def content_digest(writes: Sequence[Write]) -> str:
    """sha256 of the batch's rows in key order: key, absolute value, promotion, end date, model version."""
    digest = hashlib.sha256()
    for write in sorted(writes, key=lambda w: (w.key[0], w.key[1], w.key[2], w.key[3])):
        item_id, location_id, target_type, effective_date = write.key
        line = "|".join((
            item_id, location_id, target_type, effective_date.isoformat(), format_value(write.value),
            write.promotion_id or "", write.end_date.isoformat() if write.end_date else "", write.model_version or "",
        ))
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def make_batch_id(origin: str, run_id: str, content_sha256: str) -> str:
    """Deterministic from the content and the run that produced it (16 hex digits)."""
    return hashlib.sha256(f"{origin}\n{run_id}\n{content_sha256}".encode()).hexdigest()[:16]


# --- reading state ---------------------------------------------------------------------------------------

def _keys_frame(keys: Sequence[Key]) -> pd.DataFrame:
    return pd.DataFrame({
        "ord": range(len(keys)),
        "item_id": pd.Series([k[0] for k in keys], dtype="str"),
        "location_id": pd.Series([k[1] for k in keys], dtype="str"),
        "target_type": pd.Series([k[2] for k in keys], dtype="str"),
        "effective_date": pd.to_datetime(pd.Series([k[3] for k in keys], dtype="object")),
    })


def load_in_force(con: duckdb.DuckDBPyConnection, destination: str, keys: Sequence[Key]) -> dict[Key, float | None]:
    """The value in force at each key: written for that key, or (replenishment) for the latest earlier date."""
    if not keys:
        return {}
    con.register("wanted_keys", _keys_frame(keys))
    try:
        rows = con.execute(
            """select k.ord, s.value, s.effective_date
               from wanted_keys k
               asof left join (select * from writeback.key_state where destination = ?) s
                 on k.item_id = s.item_id and k.location_id = s.location_id and k.target_type = s.target_type
                and k.effective_date::date >= s.effective_date
               order by k.ord""",
            [destination],
        ).fetchall()
    finally:
        con.unregister("wanted_keys")
    result: dict[Key, float | None] = {}
    for ord_, value, state_date in rows:
        key = keys[ord_]
        exact = state_date is not None and state_date == key[3]
        result[key] = value if (exact or key[2] in CARRIED_FORWARD) else None
    return result


def _families_types(families: Sequence[str]) -> list[str]:
    return [t for family in families for t in FAMILIES[family]]


def load_open_reviews(con: duckdb.DuckDBPyConnection, destination: str, families: Sequence[str]) -> list[Review]:
    """Pending and approved (not yet written) reviews for this destination and these families."""
    rows = con.execute(
        """select review_id, item_id, location_id, target_type, effective_date, new_value, status,
                  promotion_id, end_date, model_version, origin
           from writeback.review_queue
           where destination = ? and status in ('pending', 'approved') and list_contains(?, target_type)
           order by review_id""",
        [destination, _families_types(families)],
    ).fetchall()
    return [
        Review(review_id=r[0], key=(r[1], r[2], r[3], r[4]), new_value=r[5], status=r[6], promotion_id=r[7],
               end_date=r[8], model_version=r[9], origin=r[10])
        for r in rows
    ]


def load_declined(con: duckdb.DuckDBPyConnection, destination: str) -> set[tuple[Key, float]]:
    """(key, value) pairs a person turned down: rejected in review, or written by a batch since rolled back.

    A rejected rollback review does not count: it turned down undoing a batch, not the value itself.
    """
    rows = con.execute(
        """select item_id, location_id, target_type, effective_date, new_value
           from writeback.review_queue where destination = ? and status = 'rejected' and origin <> 'rollback'
           union all
           select r.item_id, r.location_id, r.target_type, r.effective_date, r.value
           from writeback.batch_rows r join writeback.batches b using (batch_id)
           where b.destination = ? and b.rolled_back_by is not null""",
        [destination, destination],
    ).fetchall()
    return {((r[0], r[1], r[2], r[3]), r[4]) for r in rows}


def _record(row: tuple) -> BatchRecord:
    values = list(row)
    values[5] = tuple(values[5].split(",")) if values[5] else ()
    return BatchRecord(*values)


_BATCH_COLUMNS = """batch_id, destination, target_kind, origin, run_id, families, model_version, row_count,
    content_sha256, status, created_at, created_by, written_at, write_seq, rolls_back, rolled_back_by"""


def get_batch_record(con: duckdb.DuckDBPyConnection, batch_id: str) -> BatchRecord | None:
    row = fetch_one(con, f"select {_BATCH_COLUMNS} from writeback.batches where batch_id = ?", [batch_id])
    return _record(row) if row else None


def load_batch(con: duckdb.DuckDBPyConnection, batch_id: str) -> Batch:
    record = get_batch_record(con, batch_id)
    if record is None:
        raise WritebackStateError(f"no batch {batch_id!r} in writeback.batches")
    rows = con.execute(
        """select item_id, location_id, target_type, effective_date, value, old_value, decision, promotion_id,
                  end_date, model_version, review_id
           from writeback.batch_rows where batch_id = ?
           order by item_id, location_id, target_type, effective_date""",
        [batch_id],
    ).fetchall()
    writes = tuple(
        Write(key=(r[0], r[1], r[2], r[3]), value=r[4], old_value=r[5], decision=r[6], promotion_id=r[7],
              end_date=r[8], model_version=r[9], review_id=r[10])
        for r in rows
    )
    return Batch(record, writes)


def pending_batches(con: duckdb.DuckDBPyConnection, destination: str) -> list[str]:
    """Batches prepared for this destination but not yet recorded as written, oldest first."""
    rows = con.execute(
        "select batch_id from writeback.batches where destination = ? and status = 'prepared' order by created_at",
        [destination],
    ).fetchall()
    return [r[0] for r in rows]


# --- changing state --------------------------------------------------------------------------------------

def _next_id(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    return int(fetch_one(con, f"select coalesce(max({column}), 0) + 1 from writeback.{table}")[0])


def _append_audit(con: duckdb.DuckDBPyConnection, entries: list[dict], now: datetime | None = None) -> None:
    """Append rows to writeback.audit_log and chain them (call inside the transaction that decides them)."""
    if not entries:
        return
    start = _next_id(con, "audit_log", "audit_id")
    frame = pd.DataFrame([{**entry, "audit_id": start + i} for i, entry in enumerate(entries)])
    frame = frame.reindex(columns=list(AUDIT_COLUMNS))
    for column in ("batch_id", "run_id", "model_version", "note"):
        frame[column] = frame[column].astype("object")
    frame["effective_date"] = pd.to_datetime(frame["effective_date"])
    con.register("audit_rows", frame)
    try:
        con.execute(
            f"""insert into writeback.audit_log ({", ".join(AUDIT_COLUMNS)})
                select audit_id, logged_at, decision, destination, batch_id, run_id, model_version, item_id,
                       location_id, target_type, effective_date::date, old_value::double, new_value::double,
                       review_id::bigint, decided_by, note
                from audit_rows"""
        )
    finally:
        con.unregister("audit_rows")
    _chain_new_rows(con, start, now or utc_now())


# --- the audit log's hash chain --------------------------------------------------------------------------

def _audit_text_sql(alias: str) -> str:
    parts = []
    for column in AUDIT_COLUMNS:
        ref = f"{alias}.{column}"
        if column == "logged_at":
            parts.append(f"strftime({ref}, '%Y-%m-%dT%H:%M:%S.%f')")
        elif column == "effective_date":
            parts.append(f"strftime({ref}, '%Y-%m-%d')")
        elif column in ("old_value", "new_value"):
            parts.append(f"printf('%.17g', {ref})")
        else:
            parts.append(f"{ref}::varchar")
    return f"to_json([{', '.join(parts)}])::varchar"


# What a row's hash covers, as one SQL expression over `writeback.audit_log a` (used both to chain
# and to verify, so the two always agree): the AUDIT_COLUMNS values as a JSON array of strings,
# NULL as null — integers in decimal, timestamps 'YYYY-MM-DDTHH:MM:SS.ffffff', dates 'YYYY-MM-DD',
# doubles printf '%.17g' (exact: the double reads back from it), written by DuckDB's to_json
# (no spaces, UTF-8, JSON escapes; other control characters as \u00XX, upper-case). Example:
# ["1","2026-01-01T05:00:00.000000","written","files:/srv/outbound","7e24baa1257076bd","run-1",
#  "m1","001","L1","order_up_to_units","2025-06-25",null,"40",null,"dagster:retailops_writeback",
#  "within thresholds"]
AUDIT_ROW_TEXT = _audit_text_sql("a")


def audit_row_hash(previous_sha256: str, row_text: str) -> str:
    """sha256 hex of the previous row's hash, a newline and this row's text (AUDIT_ROW_TEXT), UTF-8."""
    return hashlib.sha256(f"{previous_sha256}\n{row_text}".encode()).hexdigest()


def _chain_new_rows(con: duckdb.DuckDBPyConnection, first_id: int, now: datetime, chained: str = "appended") -> None:
    """Hash audit rows from `first_id` on, as stored, each over the previous row's hash."""
    last = fetch_one(con, "select audit_id, row_sha256 from writeback.audit_chain order by audit_id desc limit 1")
    previous_id, previous = last or (0, AUDIT_GENESIS)
    if previous_id != first_id - 1:
        raise WritebackStateError(
            f"cannot chain audit rows from {first_id}: the last chained row is {previous_id}; "
            "verify the log (writeback.state.verify_audit_log)"
        )
    rows = con.execute(
        f"select a.audit_id, {AUDIT_ROW_TEXT} from writeback.audit_log a where a.audit_id >= ? order by a.audit_id",
        [first_id],
    ).fetchall()
    chain = []
    for audit_id, text in rows:
        if audit_id != previous_id + 1:
            raise WritebackStateError(
                f"cannot chain writeback.audit_log: audit_id {audit_id} follows {previous_id} (rows missing)"
            )
        previous, previous_id = audit_row_hash(previous, text), audit_id
        chain.append((audit_id, previous))
    frame = pd.DataFrame({
        "audit_id": pd.Series([c[0] for c in chain], dtype="int64"),
        "row_sha256": pd.Series([c[1] for c in chain], dtype="str"),
    })
    con.register("chain_rows", frame)
    try:
        con.execute("insert into writeback.audit_chain select audit_id, row_sha256, ?, ? from chain_rows",
                    [now, chained])
    finally:
        con.unregister("chain_rows")


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of walking the audit log's hash chain."""

    rows: int                           # rows that verified, from audit_id 1 on (all of them when ok)
    head_sha256: str | None             # the last verified row's hash: keep a copy elsewhere to detect truncation
    first_bad_audit_id: int | None = None
    problem: str | None = None
    chained_at_migration: int = 0       # rows logged before the chain existed, chained as they stood then
    migrated_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_audit_log(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> AuditVerification:
    """Check every row of writeback.audit_log against its chained hash, in audit_id order.

    Names the first bad row: an id missing from the sequence 1, 2, … (deleted), a row without its hash
    (added outside writeback), a hash without its row (deleted), a row whose content no longer matches
    sha256(previous row's stored hash + newline + its text) (edited, swapped or renumbered; a rehashed
    edit breaks the next row). Rows deleted from the end leave a shorter valid chain: compare
    `head_sha256` with a copy kept elsewhere to detect that. `catalog` reads an attached warehouse.
    """
    schema = f"{catalog}.writeback" if catalog else "writeback"
    if not _has_table(con, "audit_chain", catalog):
        return AuditVerification(0, None, None, f"{schema}.audit_chain does not exist: the log has never been chained")
    # Each row is checked against the *stored* hash of the row before it, so the whole log is
    # verified in one set-based pass; the first failure is also the first break of the chain.
    bad = fetch_one(
        con,
        f"""with walk as (
                select coalesce(a.audit_id, c.audit_id) as audit_id, a.audit_id is not null as has_row,
                       c.audit_id is not null as has_hash, c.row_sha256, {AUDIT_ROW_TEXT} as row_text
                from {schema}.audit_log a full outer join {schema}.audit_chain c on c.audit_id = a.audit_id),
            checked as (
                select audit_id, has_row, has_hash, row_number() over (order by audit_id) as position,
                       coalesce(row_sha256 = sha256(lag(row_sha256, 1, ?) over (order by audit_id)
                                                    || chr(10) || row_text), false) as matches
                from walk)
            select position, audit_id, has_row, has_hash from checked
            where audit_id <> position or not has_row or not has_hash or not matches
            order by audit_id limit 1""",
        [AUDIT_GENESIS],
    )
    problem = first_bad = None
    if bad is not None:
        position, audit_id, has_row, has_hash = bad
        if audit_id > position:
            first_bad, problem = position, f"audit row {position} is missing (the next row is {audit_id}): deleted"
        elif audit_id < position:
            first_bad, problem = audit_id, f"audit row {audit_id} is out of sequence (expected {position})"
        elif not has_row:
            first_bad, problem = audit_id, (f"audit row {audit_id} was deleted ({schema}.audit_chain still holds "
                                            "its hash)")
        elif not has_hash:
            first_bad, problem = audit_id, (f"audit row {audit_id} has no hash in {schema}.audit_chain: added outside "
                                            "writeback, or its hash was deleted")
        else:
            first_bad, problem = audit_id, (f"audit row {audit_id} does not match its hash: a value was edited, or "
                                            "rows were swapped or renumbered")
        verified = position - 1
    else:
        verified = fetch_one(con, f"select count(*) from {schema}.audit_chain")[0]
    head, migrated, migrated_at = fetch_one(
        con,
        f"""select max_by(row_sha256, audit_id), count(*) filter (where chained = 'migration'),
                   max(chained_at) filter (where chained = 'migration')
            from {schema}.audit_chain where audit_id between 1 and ?""",
        [verified],
    )
    return AuditVerification(verified, head, first_bad, problem, migrated, migrated_at)


def require_intact_audit_log(con: duckdb.DuckDBPyConnection, where: Path | str) -> AuditVerification:
    """verify_audit_log, raising a WritebackStateError that names the first bad row."""
    check = verify_audit_log(con)
    if not check.ok:
        raise WritebackStateError(
            f"writeback.audit_log in {where} fails verification: {check.problem}. Writeback refuses to add to an "
            "audit log that was altered; restore the warehouse from a backup (docs/writeback.md, Audit log)"
        )
    return check


def _key_fields(key: Key) -> dict:
    return {"item_id": key[0], "location_id": key[1], "target_type": key[2], "effective_date": key[3]}


def prepare_batch(
    con: duckdb.DuckDBPyConnection, *, plan: Plan, destination: str, target_kind: str, origin: str, run_id: str,
    families: Sequence[str], created_by: str, rolls_back: str | None = None, now: datetime | None = None,
) -> BatchRecord | None:
    """Record the plan in one transaction: held changes queued, superseded reviews closed, and the batch
    (status 'prepared') with its rows. Returns the batch, or None when nothing goes out."""
    now = now or utc_now()
    writes = sorted(plan.writes, key=lambda w: w.key)
    record = None
    with transaction(con):
        audit: list[dict] = []
        _queue_holds(con, plan.holds, destination, origin, run_id, now, created_by, audit, rolls_back)
        superseded_note = (f"a rollback of batch {rolls_back} was requested for this key" if rolls_back
                           else "the forecast now proposes a different value")
        for review in plan.superseded:
            con.execute(
                """update writeback.review_queue set status = 'superseded', decided_by = ?, decided_at = ?
                   where review_id = ? and status = 'pending'""",
                [created_by, now, review.review_id],
            )
            audit.append({
                **_key_fields(review.key), "logged_at": now, "decision": "superseded", "destination": destination,
                "batch_id": None, "run_id": run_id, "model_version": review.model_version, "old_value": None,
                "new_value": review.new_value, "review_id": review.review_id, "decided_by": created_by,
                "note": superseded_note,
            })
        if writes:
            content_sha = content_digest(writes)
            batch_id = make_batch_id(origin, run_id, content_sha)
            existing = get_batch_record(con, batch_id)
            if existing is not None:
                record = existing
            else:
                model_version = ", ".join(sorted({w.model_version for w in writes if w.model_version})) or None
                record = BatchRecord(
                    batch_id=batch_id, destination=destination, target_kind=target_kind, origin=origin,
                    run_id=run_id, families=tuple(sorted(families)), model_version=model_version,
                    row_count=len(writes), content_sha256=content_sha, status="prepared", created_at=now,
                    created_by=created_by, rolls_back=rolls_back,
                )
                con.execute(
                    f"insert into writeback.batches ({_BATCH_COLUMNS}) values ({', '.join(['?'] * 16)})",
                    [record.batch_id, destination, target_kind, origin, run_id, ",".join(record.families),
                     model_version, len(writes), content_sha, "prepared", now, created_by, None, None, rolls_back,
                     None],
                )
                _insert_batch_rows(con, batch_id, writes)
        if rolls_back:
            # Marked at once, even when every compensating change waits for review: the batch's values
            # are declined from now on and it cannot be rolled back twice. A compensation held for review
            # stays pending until a person decides (scheduled runs leave its key alone); when every held
            # one is rejected and none was written, decide_reviews clears the mark again.
            con.execute("update writeback.batches set rolled_back_by = ? where batch_id = ?",
                        [record.batch_id if record else f"review:{run_id}", rolls_back])
        _append_audit(con, audit, now)
    return record


def _queue_holds(con, holds: Sequence[Hold], destination, origin, run_id, now, created_by, audit,
                 rolls_back: str | None = None) -> None:
    if not holds:
        return
    start = _next_id(con, "review_queue", "review_id")
    rows = []
    for i, hold in enumerate(holds):
        review_id = start + i
        rows.append({
            "review_id": review_id, "destination": destination, **_key_fields(hold.key),
            "old_value": hold.old_value, "new_value": hold.new_value, "change_pct": hold.change_pct,
            "change_at_cost": hold.change_at_cost, "reason": hold.reason, "promotion_id": hold.promotion_id,
            "end_date": hold.end_date, "model_version": hold.model_version, "origin": origin, "run_id": run_id,
            "status": "pending", "created_at": now, "rolls_back": rolls_back,
        })
        audit.append({
            **_key_fields(hold.key), "logged_at": now, "decision": "held", "destination": destination,
            "batch_id": None, "run_id": run_id, "model_version": hold.model_version, "old_value": hold.old_value,
            "new_value": hold.new_value, "review_id": review_id, "decided_by": created_by, "note": hold.reason,
        })
    frame = pd.DataFrame(rows)
    for column in ("old_value", "change_pct", "change_at_cost"):
        frame[column] = frame[column].astype("float64")
    for column in ("promotion_id", "model_version", "rolls_back"):
        frame[column] = frame[column].astype("object")
    frame["effective_date"] = pd.to_datetime(frame["effective_date"])
    frame["end_date"] = pd.to_datetime(frame["end_date"])
    con.register("held_rows", frame)
    try:
        con.execute(
            """insert into writeback.review_queue by name
               select review_id, destination, item_id, location_id, target_type, effective_date::date as effective_date,
                      old_value, new_value, change_pct, change_at_cost, reason, promotion_id,
                      end_date::date as end_date, model_version, origin, run_id, status, created_at,
                      rolls_back::varchar as rolls_back
               from held_rows"""
        )
    finally:
        con.unregister("held_rows")


def _insert_batch_rows(con: duckdb.DuckDBPyConnection, batch_id: str, writes: Sequence[Write]) -> None:
    frame = pd.DataFrame({
        "batch_id": batch_id,
        "item_id": pd.Series([w.key[0] for w in writes], dtype="str"),
        "location_id": pd.Series([w.key[1] for w in writes], dtype="str"),
        "target_type": pd.Series([w.key[2] for w in writes], dtype="str"),
        "effective_date": pd.to_datetime(pd.Series([w.key[3] for w in writes], dtype="object")),
        "value": pd.Series([w.value for w in writes], dtype="float64"),
        "old_value": pd.Series([w.old_value for w in writes], dtype="float64"),
        "promotion_id": pd.Series([w.promotion_id for w in writes], dtype="object"),
        "end_date": pd.to_datetime(pd.Series([w.end_date for w in writes], dtype="object")),
        "model_version": pd.Series([w.model_version for w in writes], dtype="object"),
        "decision": pd.Series([w.decision for w in writes], dtype="str"),
        "review_id": pd.Series([w.review_id for w in writes], dtype="Int64"),
    })
    con.register("new_batch_rows", frame)
    try:
        con.execute(
            """insert into writeback.batch_rows by name
               select batch_id, item_id, location_id, target_type, effective_date::date as effective_date, value,
                      old_value, promotion_id::varchar as promotion_id, end_date::date as end_date,
                      model_version::varchar as model_version, decision, review_id::bigint as review_id
               from new_batch_rows"""
        )
    finally:
        con.unregister("new_batch_rows")


def finalize_batch(con: duckdb.DuckDBPyConnection, batch_id: str, now: datetime | None = None) -> BatchRecord:
    """Record that the target holds the batch: status, value in force per key, reviews written, audit rows."""
    now = now or utc_now()
    with transaction(con):
        record = get_batch_record(con, batch_id)
        if record is None:
            raise WritebackStateError(f"no batch {batch_id!r} in writeback.batches")
        if record.status == "written":
            return record
        write_seq = _next_id(con, "batches", "write_seq")
        con.execute("update writeback.batches set status = 'written', written_at = ?, write_seq = ? where batch_id = ?",
                    [now, write_seq, batch_id])
        con.execute(
            """insert into writeback.key_state
               select ?, item_id, location_id, target_type, effective_date, value, batch_id, model_version, ?
               from writeback.batch_rows where batch_id = ?
               on conflict (destination, item_id, location_id, target_type, effective_date) do update set
                 value = excluded.value, batch_id = excluded.batch_id, model_version = excluded.model_version,
                 written_at = excluded.written_at""",
            [record.destination, now, batch_id],
        )
        con.execute(
            """update writeback.review_queue set status = 'written', written_batch_id = ?
               where review_id in (select review_id from writeback.batch_rows
                                   where batch_id = ? and review_id is not null)""",
            [batch_id, batch_id],
        )
        # A rollback held for review and approved since goes out with this batch: the batch it undoes
        # is now rolled back by this one.
        con.execute(
            """update writeback.batches set rolled_back_by = ?
               where rolled_back_by = 'review:rollback:' || batch_id
                 and batch_id in (select q.rolls_back from writeback.batch_rows r
                                  join writeback.review_queue q on q.review_id = r.review_id
                                  where r.batch_id = ? and q.rolls_back is not null)""",
            [batch_id, batch_id],
        )
        # One audit row per value, appended straight from the batch's rows, then chained.
        first_audit_id = _next_id(con, "audit_log", "audit_id")
        con.execute(
            f"""insert into writeback.audit_log ({", ".join(AUDIT_COLUMNS)})
                select ? + row_number() over (order by r.item_id, r.location_id, r.target_type, r.effective_date) - 1,
                       ?, case when r.decision = 'rollback' or q.rolls_back is not null then 'rolled_back'
                               else 'written' end,
                       ?, r.batch_id, ?, r.model_version, r.item_id, r.location_id, r.target_type, r.effective_date,
                       r.old_value, r.value, r.review_id, ?,
                       case when r.decision = 'rollback' then 'compensates batch ' || ?
                            when q.rolls_back is not null
                              then 'approved in review ' || r.review_id || '; compensates batch ' || q.rolls_back
                            when r.decision = 'approved' then 'approved in review ' || r.review_id
                            else 'within thresholds' end
                from writeback.batch_rows r left join writeback.review_queue q on q.review_id = r.review_id
                where r.batch_id = ?""",
            [first_audit_id, now, record.destination, record.run_id, record.created_by, record.rolls_back, batch_id],
        )
        _chain_new_rows(con, first_audit_id, now)
    return get_batch_record(con, batch_id)


# --- reviews ----------------------------------------------------------------------------------------------

REVIEW_COLUMNS = """review_id, status, destination, item_id, location_id, target_type, effective_date, old_value,
    new_value, change_pct, change_at_cost, reason, promotion_id, origin, run_id, created_at, decided_by, decided_at,
    written_batch_id"""


def list_reviews(con: duckdb.DuckDBPyConnection, statuses: Sequence[str] | None = None) -> pd.DataFrame:
    if not has_schema(con):
        return pd.DataFrame(columns=[c.strip() for c in REVIEW_COLUMNS.split(",")])
    where = "where list_contains(?, status)" if statuses else ""
    params = [list(statuses)] if statuses else []
    return con.execute(f"select {REVIEW_COLUMNS} from writeback.review_queue {where} order by review_id", params).df()


def decide_reviews(
    con: duckdb.DuckDBPyConnection, review_ids: Sequence[int], decision: str, decided_by: str, note: str | None,
    now: datetime | None = None,
) -> list[int]:
    """Approve or reject pending reviews, all or none; every decision gets an audit row.

    Rejecting the held compensating changes of a rollback cancels that rollback when nothing of it was
    written and none of it is still pending or approved: the batch is no longer marked rolled back
    (its values count as wanted again, and it can be rolled back again), with a `rollback_cancelled`
    audit row per key. If part of the rollback was written, the batch stays rolled back.
    """
    if decision not in ("approved", "rejected"):
        raise ValueError(f"decision must be 'approved' or 'rejected', got {decision!r}")
    now = now or utc_now()
    with transaction(con):
        rows = con.execute(
            """select review_id, status, destination, item_id, location_id, target_type, effective_date, old_value,
                      new_value, model_version, run_id, rolls_back
               from writeback.review_queue where list_contains(?, review_id) order by review_id""",
            [list(review_ids)],
        ).fetchall()
        found = {r[0]: r for r in rows}
        missing = [i for i in review_ids if i not in found]
        if missing:
            raise WritebackStateError(f"no review with id {', '.join(map(str, missing))} in writeback.review_queue")
        not_pending = [f"{i} is {found[i][1]}" for i in review_ids if found[i][1] != "pending"]
        if not_pending:
            raise WritebackStateError(f"only pending reviews can be decided: {'; '.join(not_pending)}")
        con.execute(
            """update writeback.review_queue set status = ?, decided_by = ?, decided_at = ?
               where list_contains(?, review_id)""",
            [decision, decided_by, now, list(review_ids)],
        )
        audit = [{
            "item_id": r[3], "location_id": r[4], "target_type": r[5], "effective_date": r[6], "logged_at": now,
            "decision": decision, "destination": r[2], "batch_id": None, "run_id": r[10], "model_version": r[9],
            "old_value": r[7], "new_value": r[8], "review_id": r[0], "decided_by": decided_by, "note": note,
        } for r in rows]
        if decision == "rejected":
            audit += _cancel_rejected_rollbacks(con, rows, decided_by, now)
        _append_audit(con, audit, now)
    return sorted(found)


def _cancel_rejected_rollbacks(con: duckdb.DuckDBPyConnection, rejected: list[tuple], decided_by: str,
                               now: datetime) -> list[dict]:
    """Clear the rolled-back mark of batches whose rollback was rejected whole; their audit rows."""
    audit = []
    for batch_id in sorted({r[11] for r in rejected if r[11]}):
        mark = fetch_one(con, "select rolled_back_by from writeback.batches where batch_id = ?", [batch_id])
        if mark is None or mark[0] is None:
            continue
        live_parts = fetch_one(
            con, """select (select count(*) from writeback.review_queue
                            where rolls_back = ? and status in ('pending', 'approved', 'written'))
                         + (select count(*) from writeback.batches where rolls_back = ?)""",
            [batch_id, batch_id],
        )[0]
        if live_parts:
            continue  # part of the rollback was written, or still waits: the batch stays rolled back
        con.execute("update writeback.batches set rolled_back_by = null where batch_id = ?", [batch_id])
        audit += [{
            "item_id": r[3], "location_id": r[4], "target_type": r[5], "effective_date": r[6], "logged_at": now,
            "decision": "rollback_cancelled", "destination": r[2], "batch_id": batch_id, "run_id": r[10],
            "model_version": r[9], "old_value": r[7], "new_value": r[8], "review_id": r[0], "decided_by": decided_by,
            "note": f"rollback of batch {batch_id} cancelled: its compensating changes were rejected; the batch's "
                    "values stay in force and it can be rolled back again",
        } for r in rejected if r[11] == batch_id]
    return audit


# --- rollback support ------------------------------------------------------------------------------------

def later_writes(con: duckdb.DuckDBPyConnection, record: BatchRecord) -> list[tuple[Key, str]]:
    """Keys of this batch that a batch written after it has written again (exact key)."""
    rows = con.execute(
        """select r.item_id, r.location_id, r.target_type, r.effective_date, b.batch_id
           from writeback.batch_rows mine
           join writeback.batch_rows r using (item_id, location_id, target_type, effective_date)
           join writeback.batches b on b.batch_id = r.batch_id
           where mine.batch_id = ? and b.destination = ? and b.status = 'written' and b.write_seq > ?
           order by b.write_seq""",
        [record.batch_id, record.destination, record.write_seq],
    ).fetchall()
    return [((r[0], r[1], r[2], r[3]), r[4]) for r in rows]


@dataclass(frozen=True)
class EarlierValue:
    value: float
    model_version: str | None
    promotion_id: str | None
    end_date: date | None


def values_before(con: duckdb.DuckDBPyConnection, record: BatchRecord, keys: Sequence[Key]) -> dict[Key, EarlierValue]:
    """The value in force at each key just before `record` was written (absent: nothing was in force)."""
    if not keys:
        return {}
    con.register("wanted_keys", _keys_frame(keys))
    try:
        rows = con.execute(
            """with history as (
                   select r.item_id, r.location_id, r.target_type, r.effective_date, r.value, r.model_version,
                          r.promotion_id, r.end_date
                   from writeback.batch_rows r join writeback.batches b using (batch_id)
                   where b.destination = ? and b.status = 'written' and b.write_seq < ?
                   qualify row_number() over (partition by r.item_id, r.location_id, r.target_type, r.effective_date
                                              order by b.write_seq desc) = 1)
               select k.ord, h.value, h.effective_date, h.model_version, h.promotion_id, h.end_date
               from wanted_keys k
               asof left join history h
                 on k.item_id = h.item_id and k.location_id = h.location_id and k.target_type = h.target_type
                and k.effective_date::date >= h.effective_date
               order by k.ord""",
            [record.destination, record.write_seq],
        ).fetchall()
    finally:
        con.unregister("wanted_keys")
    result = {}
    for ord_, value, from_date, model_version, promotion_id, end_date in rows:
        key = keys[ord_]
        if value is None or (from_date != key[3] and key[2] not in CARRIED_FORWARD):
            continue
        result[key] = EarlierValue(value, model_version, promotion_id, end_date)
    return result


# --- keeping state across `retailops run`'s warehouse swap -------------------------------------------------

@contextmanager
def preserved_writeback_state(live: Path, building: Path) -> Iterator[None]:
    """Copy the live warehouse's writeback state into a rebuilt copy, then hold the lock while it is swapped in.

    `retailops run` builds on a copy of the warehouse and renames it over the live file; writeback
    state changed meanwhile (a review decision, a scheduled batch) lives only in the live file. The
    audit log is carried over by appending the rows the copy lacks, never by rewriting it, and only
    when the live log verifies, the copy's rows are exactly the live log's first rows (the copy's
    last hash is the live log's hash at that row), and the merged log verifies again.
    """
    live, building = Path(live), Path(building)
    with writeback_lock(live):
        if live.exists() and building.exists():
            _copy_state(live, building)
        yield


def _migrate_if_needed(warehouse: Path) -> None:
    """Bring a warehouse's writeback schema up to date (e.g. chain an audit log from before the chain)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if not has_schema(con) or (_has_table(con, "audit_chain") and _has_column(con, "review_queue", "rolls_back")):
            return
    with connect(warehouse) as con:
        ensure_schema(con)


def _copy_state(live: Path, building: Path) -> None:
    _migrate_if_needed(live)
    with duckdb.connect(str(building)) as con:
        con.execute(f"attach '{_sql_path(live)}' as live_warehouse (read_only)")
        try:
            if not _has_table(con, "audit_log", "live_warehouse"):
                return
            ensure_schema(con)
            theirs = verify_audit_log(con, "live_warehouse")
            if not theirs.ok:
                raise WritebackStateError(
                    f"writeback.audit_log in {live} fails verification: {theirs.problem}; refusing to replace it"
                )
            with transaction(con):
                for table in STATE_TABLES:
                    con.execute(f"delete from writeback.{table}")
                    con.execute(f"insert into writeback.{table} by name select * from live_warehouse.writeback.{table}")
                ours = fetch_one(
                    con, "select audit_id, row_sha256 from writeback.audit_chain order by audit_id desc limit 1"
                ) or (0, None)
                if ours[0] > theirs.rows:
                    raise WritebackStateError(
                        f"writeback.audit_log in {live} lacks rows the rebuilt copy has (it ends at audit row "
                        f"{theirs.rows}, the copy at {ours[0]}); refusing to replace it"
                    )
                if ours[0]:
                    at_same_row = fetch_one(
                        con, "select row_sha256 from live_warehouse.writeback.audit_chain where audit_id = ?", [ours[0]]
                    )[0]
                    if at_same_row != ours[1]:
                        raise WritebackStateError(
                            f"writeback.audit_log in {live} differs from the rebuilt copy's at or before audit row "
                            f"{ours[0]}; refusing to replace it"
                        )
                for table in ("audit_log", "audit_chain"):
                    con.execute(
                        f"""insert into writeback.{table} by name
                            select * from live_warehouse.writeback.{table} where audit_id > ?""",
                        [ours[0]],
                    )
                merged = verify_audit_log(con)
                if not merged.ok or merged.rows != theirs.rows:
                    raise WritebackStateError(
                        f"the audit log carried over from {live} does not verify in the rebuilt copy "
                        f"({merged.problem or f'{merged.rows} rows, expected {theirs.rows}'}); refusing to replace it"
                    )
        finally:
            con.execute("detach live_warehouse")


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def env_user() -> str:
    """Who runs a command, for the audit log: $RETAILOPS_USER, else the login name."""
    import getpass

    return os.environ.get("RETAILOPS_USER") or getpass.getuser()
