"""Load landing extracts into `raw.<system>__<entity>`, exactly once, losing no row (DESIGN §3).

Every file is registered in `ops.file_registry` (path, size, sha256, rows, load id, outcome):

- a file already registered (same path and content) is not read again, so loading twice
  changes nothing;
- a file whose content was already loaded for the entity, wherever it sits, is a duplicate:
  registered, not loaded;
- a file that cannot be read as its format (encoding, structure, missing required column,
  misdated folder, unsupported type) is rejected whole, with the reason; nothing is loaded;
- a readable file's rows are typed and checked in DuckDB (set-based: everything is read as
  text, then TRY_CAST per column); rows that fail go to `ops.quarantine` with file, line,
  column, reason and the raw record, and data rows in file = rows loaded + rows quarantined;
- the accepted file restates its entity and extract date: in one transaction the rows of
  the earlier extract for that date are replaced by the new ones.

Line numbers count the header as line 1 in CSV files (blank lines are not rows but count as
lines); in Parquet the first row is 1; in JSON Lines the first line is 1.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pa_parquet

from ingestion.contract import (
    BOOLEAN,
    DATE,
    ENTITIES,
    ENTITIES_BY_PATH,
    FUTURE_TOLERANCE_DAYS,
    INTEGER,
    ITEMS_PATH,
    LOCATIONS_PATH,
    MONEY,
    PROVENANCE_FILE,
    QUANTITY,
    SUPPORTED_EXTENSIONS,
    TIMESTAMP,
    Column,
    Entity,
    RowRule,
    is_date_dir,
    is_in_progress,
    normalise_column_name,
)

log = logging.getLogger(__name__)

METADATA_COLUMNS = (
    ("_file", "VARCHAR"),
    ("_extract_date", "DATE"),
    ("_load_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
    ("_row_number", "BIGINT"),  # the line number in the file (see the module docstring)
)

LOADED, SUPERSEDED, DUPLICATE, REJECTED = "loaded", "superseded", "duplicate", "rejected"
# Not registered: picked up by a later load.
DEFERRED = "deferred"

REGISTRY_DDL = """create table if not exists ops.file_registry (
    file_id varchar,          -- first 16 hex digits of sha256(file path, content sha256)
    entity varchar,           -- 'pos/sales'; NULL for a file that fits no entity
    file varchar,             -- path relative to the landing folder
    extract_date date,
    format varchar,
    size_bytes bigint,
    modified_ns bigint,
    sha256 varchar,
    outcome varchar,          -- loaded | superseded | duplicate | rejected
    reason varchar,
    rows_in_file bigint,      -- data rows, counted independently of the parser that loads them
    rows_loaded bigint,
    rows_quarantined bigint,
    warnings varchar,
    restated_file varchar,    -- the file this one replaced for its entity and extract date
    superseded_by varchar,    -- the file that later restated this one
    load_id varchar,
    registered_at timestamp
)"""
QUARANTINE_DDL = """create table if not exists ops.quarantine (
    file_id varchar, entity varchar, file varchar, extract_date date,
    line_number bigint, column_name varchar, reason varchar, raw_record varchar,
    load_id varchar, quarantined_at timestamp
)"""

_HASH_BLOCK = 1 << 22
_MAX_VALUE_IN_REASON = 60


class LandingError(Exception):
    """A landing folder that cannot be used at all; the message names the path."""


class _Rejected(Exception):
    """The whole file is rejected; the message is the reason recorded in the registry."""


# --- finding files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LandedFile:
    """A file under the landing folder, placed by its path (or not placeable: `misplaced` says why)."""

    path: Path
    relative_path: str
    entity: Entity | None = None
    extract_date: date | None = None
    misplaced: str | None = None


@dataclass
class LandingScan:
    extracts: list[LandedFile] = field(default_factory=list)
    misplaced: list[LandedFile] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)

    def for_entity(self, entity: Entity, extract_dates: Collection[str] | None = None) -> list[LandedFile]:
        return [
            f for f in self.extracts
            if f.entity is entity and (extract_dates is None or f.extract_date.isoformat() in extract_dates)
        ]

    @property
    def extract_dates(self) -> list[str]:
        """Every extract date with at least one file, oldest first (the ingestion partitions)."""
        return sorted({f.extract_date.isoformat() for f in self.extracts})


@dataclass(frozen=True)
class _IdTypes:
    """Names of the temporary ENUM types of the master data's ids (unknown-id and fractional-units checks)."""

    items: str
    unit_items: str  # items that do not sell by weight
    locations: str

    @classmethod
    def unique(cls) -> _IdTypes:
        suffix = uuid.uuid4().hex[:12]
        return cls(f"_known_item_ids_{suffix}", f"_unit_item_ids_{suffix}", f"_known_location_ids_{suffix}")


# SQL for the 64-bit hash that groups candidate duplicate keys ({} = the key's columns). A test
# replaces it with a constant to prove that colliding hashes never make distinct keys duplicates.
KEY_HASH_SQL = "hash({})"


def scan_landing(landing_dir: Path) -> LandingScan:
    """Every file under `landing_dir`, sorted by path: extracts, misplaced files, files still being written."""
    scan = LandingScan()
    if not landing_dir.is_dir():
        raise LandingError(f"{landing_dir}: landing folder does not exist")
    for root, dirs, files in os.walk(landing_dir):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            relative = path.relative_to(landing_dir)
            rel_text = relative.as_posix()
            if rel_text == PROVENANCE_FILE:
                continue
            if any(is_in_progress(part) for part in relative.parts):
                scan.in_progress.append(rel_text)
                continue
            placed = _place(path, relative)
            (scan.misplaced if placed.misplaced else scan.extracts).append(placed)
    return scan


def _place(path: Path, relative: Path) -> LandedFile:
    rel_text = relative.as_posix()
    parts = relative.parts
    if len(parts) != 4:
        return LandedFile(path, rel_text, misplaced=(
            "outside the folder layout (expected <system>/<entity>/<YYYY-MM-DD>/<file>)"))
    entity = ENTITIES_BY_PATH.get(f"{parts[0]}/{parts[1]}")
    if entity is None:
        return LandedFile(path, rel_text, misplaced=(
            f"unknown entity {parts[0]}/{parts[1]} (expected one of {', '.join(ENTITIES_BY_PATH)})"))
    if not is_date_dir(parts[2]):
        return LandedFile(path, rel_text, entity, misplaced=(
            f"extract folder {parts[2]!r} is not a date (expected YYYY-MM-DD)"))
    try:
        extract_date = date.fromisoformat(parts[2])
    except ValueError as exc:
        return LandedFile(path, rel_text, entity, misplaced=f"extract folder {parts[2]!r} is not a valid date: {exc}")
    return LandedFile(path, rel_text, entity, extract_date)


def validate_landing(landing_dir: Path, entities: tuple[Entity, ...] = ENTITIES) -> None:
    """Stop before anything is written when the landing folder cannot feed the pipeline at all.

    The folder must exist and every entity the marts need must have its folder with at least
    one file. Problems inside files are not checked here: they reject a file or quarantine rows.
    """
    if not landing_dir.is_dir():
        raise LandingError(f"{landing_dir}: landing folder does not exist")
    for entity in entities:
        if not entity.needed_by_pipeline:
            continue
        entity_dir = landing_dir / entity.system / entity.entity
        if not entity_dir.is_dir():
            raise LandingError(f"{entity_dir}: landing folder for {entity.path} is missing")
        if not any(p.is_file() for p in entity_dir.rglob("*")):
            raise LandingError(f"{entity_dir}: no extract files for {entity.path}")


# --- results ------------------------------------------------------------------------------------


@dataclass
class FileOutcome:
    """What happened to one file in one load."""

    file: str
    entity: str | None
    extract_date: date | None
    outcome: str
    reason: str | None = None
    rows_in_file: int | None = None
    rows_loaded: int = 0
    rows_quarantined: int = 0
    warnings: list[str] = field(default_factory=list)
    restated_file: str | None = None


@dataclass
class EntityLoad:
    """One entity's load: a FileOutcome per file that was new to the registry."""

    entity: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    already_registered: int = 0

    def _count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def files_loaded(self) -> int:
        return self._count(LOADED)

    @property
    def files_rejected(self) -> int:
        return self._count(REJECTED)

    @property
    def files_duplicate(self) -> int:
        return self._count(DUPLICATE)

    @property
    def files_deferred(self) -> int:
        return self._count(DEFERRED)

    @property
    def rows_loaded(self) -> int:
        return sum(o.rows_loaded for o in self.outcomes if o.outcome == LOADED)

    @property
    def rows_quarantined(self) -> int:
        return sum(o.rows_quarantined for o in self.outcomes if o.outcome == LOADED)

    @property
    def dates_restated(self) -> list[str]:
        return sorted({o.extract_date.isoformat() for o in self.outcomes if o.outcome == LOADED and o.extract_date})


# --- warehouse tables ---------------------------------------------------------------------------


def ensure_warehouse_schema(con: duckdb.DuckDBPyConnection, entities: tuple[Entity, ...] = ENTITIES) -> None:
    """Create ops.file_registry, ops.quarantine and a raw table per entity (empty if nothing landed).

    A warehouse built by the landing-v1 loader (a registry without file_id) kept no record of
    which file each row came from in the new sense: its raw tables are rebuilt from the landing folder.
    """
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists ops")
    registry_columns = _table_columns(con, "ops", "file_registry")
    if registry_columns and "file_id" not in registry_columns:
        con.execute("drop table ops.file_registry")
        for entity in ENTITIES:
            con.execute(f"drop table if exists raw.{entity.name}")
    con.execute(REGISTRY_DDL)
    con.execute(QUARANTINE_DDL)
    for entity in entities:
        existing = _table_columns(con, "raw", entity.name)
        if not existing:
            con.execute(f"create table raw.{entity.name} ({_raw_columns_sql(entity)})")
            continue
        # A contract that gained an optional column: older rows get NULL.
        for column in entity.columns:
            if column.name not in existing:
                con.execute(f'alter table raw.{entity.name} add column "{column.name}" {column.type}')


def _table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def _raw_columns_sql(entity: Entity) -> str:
    columns = [f'"{c.name}" {c.type}' for c in entity.columns]
    columns += [f"{name} {type_}" for name, type_ in METADATA_COLUMNS]
    return ", ".join(columns)


# --- loading ------------------------------------------------------------------------------------


@dataclass
class _Registered:
    by_stat: set[tuple[str, int, int]]
    by_hash: set[tuple[str, str]]
    loaded_hashes: dict[str, str]  # sha256 -> file, for content already loaded for the entity


def _registered(con: duckdb.DuckDBPyConnection, entity_path: str | None) -> _Registered:
    rows = con.execute(
        "select file, size_bytes, modified_ns, sha256, outcome from ops.file_registry "
        "where entity is not distinct from ?",
        [entity_path],
    ).fetchall()
    state = _Registered(set(), set(), {})
    for file, size, modified, sha, outcome in rows:
        state.by_stat.add((file, size, modified))
        state.by_hash.add((file, sha))
        if outcome in (LOADED, SUPERSEDED):
            state.loaded_hashes.setdefault(sha, file)
    return state


def load_entity(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    entity: Entity,
    load_id: str,
    extract_dates: Collection[str] | None = None,
    *,
    today: date | None = None,
    settle_seconds: float = 0.0,
) -> EntityLoad:
    """Load every file of `entity` (only `extract_dates`' folders when given) not yet in the registry.

    Oldest extract date first; within a date, by modification time then name, so a later
    extract of the same date restates an earlier one. Each accepted file is committed in its
    own transaction; a rejected file changes nothing but its registry row.
    """
    con.execute("set TimeZone = 'UTC'")
    ensure_warehouse_schema(con)
    today = today or datetime.now(UTC).date()
    files = scan_landing(landing_dir).for_entity(entity, extract_dates)
    files.sort(key=lambda f: (f.extract_date, f.path.stat().st_mtime_ns, f.relative_path))
    result = EntityLoad(entity.path)
    for landed in files:
        outcome = _load_file(con, entity, landed, load_id, today, settle_seconds)
        if outcome is None:
            result.already_registered += 1
        else:
            result.outcomes.append(outcome)
            _log_outcome(outcome)
    return result


def record_misplaced_files(con: duckdb.DuckDBPyConnection, landing_dir: Path, load_id: str) -> list[FileOutcome]:
    """Register files that fit no entity's folder layout as rejected, with the reason (never ignore a file)."""
    ensure_warehouse_schema(con)
    registered = _registered(con, None)
    outcomes = []
    for landed in scan_landing(landing_dir).misplaced:
        stat = landed.path.stat()
        if (landed.relative_path, stat.st_size, stat.st_mtime_ns) in registered.by_stat:
            continue
        digest = _file_sha256(landed.path)
        if (landed.relative_path, digest) in registered.by_hash:
            continue
        outcome = FileOutcome(landed.relative_path, None, landed.extract_date, REJECTED, landed.misplaced)
        _register(con, outcome, landed, stat, digest, load_id, None)
        _log_outcome(outcome)
        outcomes.append(outcome)
    return outcomes


def _log_outcome(outcome: FileOutcome) -> None:
    if outcome.outcome == REJECTED:
        log.warning("%s: rejected: %s", outcome.file, outcome.reason)
    elif outcome.outcome == DUPLICATE:
        log.warning("%s: skipped: %s", outcome.file, outcome.reason)
    elif outcome.outcome == DEFERRED:
        log.info("%s: not loaded yet: %s", outcome.file, outcome.reason)
    for warning in outcome.warnings:
        log.warning("%s: %s", outcome.file, warning)


def _load_file(
    con: duckdb.DuckDBPyConnection, entity: Entity, landed: LandedFile, load_id: str, today: date,
    settle_seconds: float,
) -> FileOutcome | None:
    stat = landed.path.stat()
    registered = _registered(con, entity.path)
    if (landed.relative_path, stat.st_size, stat.st_mtime_ns) in registered.by_stat:
        return None
    if settle_seconds and time.time() - stat.st_mtime < settle_seconds:
        return FileOutcome(landed.relative_path, entity.path, landed.extract_date, DEFERRED,
                           f"modified less than {settle_seconds:g} s ago: may still be being written")
    outcome = FileOutcome(landed.relative_path, entity.path, landed.extract_date, REJECTED)
    source: _Source | None = None
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The checksum (and the byte statistics that give CSV line numbers) is computed while
            # DuckDB parses and types the file: hashlib releases the GIL, so the two overlap.
            hashing = pool.submit(_hash_and_scan, landed.path)
            try:
                source = _read(con, landed, entity, stat, today)
                _type_rows(con, entity, source)
            except _Rejected as exc:
                outcome.reason, source = str(exc), None
            stats = hashing.result()
        if (landed.relative_path, stats.sha256) in registered.by_hash:
            return None
        after = landed.path.stat()
        if (after.st_size, after.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            return FileOutcome(landed.relative_path, entity.path, landed.extract_date, DEFERRED,
                               "changed while it was read: still being written")
        earlier = registered.loaded_hashes.get(stats.sha256)
        if earlier is not None:
            outcome.outcome, outcome.reason = DUPLICATE, f"same content as {earlier}, already loaded"
        elif source is not None:
            try:
                checked = _check_rows(con, entity, source, stats)
            except _Rejected as exc:
                outcome.reason = str(exc)
            else:
                outcome.outcome = LOADED
                outcome.rows_in_file = source.rows_in_file
                outcome.rows_loaded = checked.rows_loaded
                outcome.rows_quarantined = checked.rows_quarantined
                outcome.warnings = source.warnings
                _commit_extract(con, entity, landed, stat, stats.sha256, load_id, outcome, source, checked)
                return outcome
        _register(con, outcome, landed, stat, stats.sha256, load_id, None)
        return outcome
    finally:
        con.execute("drop view if exists _typed")
        for table in ("_typed_rows", "_jsonl", "_duplicate_rows", "_line_map", "_line_offsets"):
            con.execute(f"drop table if exists {table}")


def _read(con, landed: LandedFile, entity: Entity, stat: os.stat_result, today: date) -> _Source:
    reader = {".csv": _read_csv, ".parquet": _read_parquet, ".jsonl": _read_jsonl}.get(landed.path.suffix.lower())
    if reader is None:
        raise _Rejected(f"not a supported extract type {landed.path.suffix or '(no extension)'!r} "
                        f"(expected one of {', '.join(SUPPORTED_EXTENSIONS)})")
    if landed.extract_date > today + timedelta(days=FUTURE_TOLERANCE_DAYS):
        raise _Rejected(f"extract date {landed.extract_date} is in the future (today is {today}): "
                        "the folder is probably misdated")
    if stat.st_size == 0:
        raise _Rejected("empty file (0 bytes): expected at least a header row")
    return reader(con, landed.path, entity)


# --- byte statistics (checksum, and what CSV line numbering needs) ---------------------------------


@dataclass
class _ByteStats:
    sha256: str
    newlines: int
    has_quote: bool
    has_bare_cr: bool
    ends_with_newline: bool

    @property
    def lines_are_records(self) -> bool:
        """No quoted field (that could hold a line end) and no bare CR: each line is at most one record.

        A blank line is not a record either; it is not looked for here (a search for two line ends in
        a row costs more than the hash): it shows as fewer records than lines (see _line_numbers).
        """
        return not (self.has_quote or self.has_bare_cr)

    @property
    def physical_lines(self) -> int:
        return self.newlines + (0 if self.ends_with_newline else 1)


def _hash_and_scan(path: Path) -> _ByteStats:
    digest = hashlib.sha256()
    newlines = crlf = cr = 0
    has_quote = previous_ends_with_cr = False
    last = b""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
            newlines += block.count(b"\n")
            has_quote = has_quote or b'"' in block
            if b"\r" in block:  # counting CR LF pairs is slow, and most files have no CR at all
                cr += block.count(b"\r")
                crlf += block.count(b"\r\n")
            if previous_ends_with_cr and block.startswith(b"\n"):
                crlf += 1
            previous_ends_with_cr, last = block.endswith(b"\r"), block[-1:]
    return _ByteStats(digest.hexdigest(), newlines, has_quote, cr != crlf, last in (b"\n", b"\r"))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


# --- reading a file as text ----------------------------------------------------------------------


@dataclass
class _Source:
    """A file as rows of text: `sql` yields `_ord` (record ordinal from 1) and one VARCHAR column `c<i>` per field."""

    path: Path
    format: str
    sql: str
    params: list
    present: dict[str, str]  # contract column -> c<i>
    raw_record_sql: str  # over the source row aliased x: the raw record kept in quarantine
    rows_in_file: int | None = None  # counted independently of the parser (line ends, Parquet footer, lines)
    warnings: list[str] = field(default_factory=list)
    # (line, reason, raw record) of records the parser could not split into the header's fields
    structural: list[tuple[int, str, str]] = field(default_factory=list)
    header_fields: int = 0
    rejects_table: str | None = None  # CSV: DuckDB's rejects of the scan
    csv_rejected_lines: list[int] = field(default_factory=list)  # DuckDB's line numbers
    csv_blank_rejects: set[int] = field(default_factory=set)
    # `sql` yields no `_ord`: the record's ordinal is its position in `_typed_rows` (see _create_typed_rows).
    ordinal_from_position: bool = False
    id_types: _IdTypes = field(default_factory=_IdTypes.unique)


def _map_header(names: list[str], entity: Entity) -> tuple[dict[str, str], list[str]]:
    """Header names → contract columns; reject a missing required column or two names for one column."""
    present: dict[str, str] = {}
    originals: dict[str, str] = {}
    warnings: list[str] = []
    extra: list[str] = []
    renamed: list[str] = []
    for index, original in enumerate(names):
        name = normalise_column_name(original)
        if name not in entity.column_names:
            extra.append(original)
            continue
        if name in present:
            raise _Rejected(f"columns {originals[name]!r} and {original!r} are both read as {name!r}")
        present[name] = f"c{index}"
        originals[name] = original
        if original != name:
            renamed.append(f"{original!r} as {name!r}")
    missing = [c for c in entity.required_columns if c not in present]
    if missing:
        hint = ""
        if len(names) == 1:
            found = [d for d in (";", "\t", "|") if d in names[0]]
            if found:
                hint = (f"; the header has one field containing {found[0]!r}: the file seems to use "
                        f"{found[0]!r} as delimiter, the contract expects commas")
        raise _Rejected(f"required column {missing[0]!r} of {entity.path} is missing "
                        f"(found: {', '.join(repr(n) for n in names[:20])}){hint}")
    if renamed:
        warnings.append(f"header read as contract names: {', '.join(renamed)}")
    if extra:
        warnings.append(f"ignored columns not in the contract: {', '.join(repr(n) for n in extra)}")
    return present, warnings


def _json_record_sql(names: list[str]) -> str:
    pairs = ", ".join(f"{_sql_literal(name)}, x.c{index}" for index, name in enumerate(names))
    return f"json_object({pairs})::varchar"


def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as handle:
        first_line = handle.readline(1 << 20)
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Rejected(f"not UTF-8 text ({exc.reason} at byte {exc.start} of the header)") from exc
    with _csv_field_limit():
        header = next(csv.reader([text.rstrip("\r\n")]), [])
    if not header or all(not h.strip() for h in header):
        raise _Rejected("the first line is empty: expected a header row")
    return header


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, entity: Entity) -> _Source:
    """The header is read here; the rows when the typed table is built (one pass over the file)."""
    header = _csv_header(path)
    present, warnings = _map_header(header, entity)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
    suffix = uuid.uuid4().hex[:12]
    rejects = f"_rejects_{suffix}"
    # Every field as text: typing happens in SQL, where a value that does not parse is a row problem,
    # not a reason to drop the row. Only records that cannot be split into the header's fields
    # (and lines that are not UTF-8) become DuckDB rejects.
    # No `_ord` here: numbering the records with a window would make the whole typing pass (and the
    # writing of `_typed_rows`) single-threaded. The ordinal is the row's position there instead.
    sql = f"""(select *
               from read_csv(?, header = true, delim = ',', quote = '"', escape = '"', columns = {columns},
                             auto_detect = false, ignore_errors = true, store_rejects = true,
                             rejects_table = '{rejects}', rejects_scan = '_reject_scans_{suffix}'))"""
    return _Source(path, "csv", sql, [str(path)], present, _json_record_sql(header), None, warnings,
                   header_fields=len(header), rejects_table=rejects, ordinal_from_position=True)


def _collect_csv_rejects(con: duckdb.DuckDBPyConnection, source: _Source) -> None:
    """Read (and drop) DuckDB's rejects of the scan: not-UTF-8 lines reject the file, the others are rows."""
    rejects = source.rejects_table
    try:
        errors = con.execute(
            f"select line, error_type, any_value(csv_line), count(*) from {rejects} group by line, error_type "
            "order by line"
        ).fetchall()
    finally:
        con.execute(f"drop table if exists {rejects}")
        con.execute(f"drop table if exists {rejects.replace('_rejects_', '_reject_scans_')}")
    by_line: dict[int, tuple[str, str]] = {}
    for line, error_type, csv_line, _ in errors:
        if error_type in ("INVALID ENCODING", "INVALID UNICODE"):
            raise _Rejected(f"not UTF-8 text (line {line} has bytes that are not UTF-8)")
        by_line.setdefault(int(line), (error_type, (csv_line or "").strip("\r\n")))
    for line, (error_type, raw) in sorted(by_line.items()):
        source.csv_rejected_lines.append(line)
        if not raw.strip():
            source.csv_blank_rejects.add(line)  # a line of blanks only: not a row
            continue
        source.structural.append((line, _structural_reason(error_type, raw, source.header_fields), raw))


def _structural_reason(error_type: str, raw: str, expected_fields: int) -> str:
    if error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        found = len(next(csv.reader([raw]), []))
        return f"expected {expected_fields} fields as in the header, found {found}"
    if error_type == "UNQUOTED VALUE":
        return "a quote character inside an unquoted field (or an unterminated quoted field)"
    if error_type == "LINE SIZE OVER MAXIMUM":
        return "the line is longer than the CSV reader's maximum line size"
    return f"cannot be split into fields ({error_type.lower()})"


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, entity: Entity) -> _Source:
    try:
        parquet = pa_parquet.ParquetFile(path)
        names = parquet.schema_arrow.names
        rows = parquet.metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a damaged or non-Parquet file
        raise _Rejected(f"not a readable Parquet file: {_first_line(str(exc))}") from exc
    present, warnings = _map_header(names, entity)
    casts = ", ".join(f"cast({_sql_identifier(name)} as varchar) as c{i}" for i, name in enumerate(names))
    sql = f"(select file_row_number + 1 as _ord, {casts} from read_parquet(?, file_row_number = true))"
    return _Source(path, "parquet", sql, [str(path)], present, _json_record_sql(names), rows, warnings)


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, entity: Entity) -> _Source:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _Rejected(f"not UTF-8 text ({exc.reason} on line {line})") from exc
    numbered = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    lines = pa.table({"_ord": pa.array([n for n, _ in numbered], pa.int64()),
                      "_raw": pa.array([t for _, t in numbered], pa.string())})
    con.register("_jsonl_lines", lines)
    try:
        con.execute("""create temp table _jsonl as
                       select _ord, _raw,
                              case when json_valid(_raw) then json_type(_raw) = 'OBJECT' else false end as _ok
                       from _jsonl_lines""")
    finally:
        con.unregister("_jsonl_lines")
    keys = [k for (k,) in con.execute(
        "select distinct unnest(json_keys(_raw)) from _jsonl where _ok order by 1").fetchall()]
    if numbered and not keys:
        raise _Rejected("not JSON Lines: no line is a JSON object")
    # Several spellings of one column across lines (e.g. "Units" and "units") are one column.
    by_name: dict[str, list[str]] = {}
    for key in keys:
        by_name.setdefault(normalise_column_name(key), []).append(key)
    present, warnings = _map_header(list(by_name), entity)
    renamed = [f"{k!r} as {name!r}" for name, spellings in by_name.items() for k in spellings if k != name]
    if renamed:
        warnings.insert(0, f"keys read as contract names: {', '.join(renamed)}")
    selects = "".join(
        ", coalesce(" + ", ".join(f"_raw ->> {_sql_literal(k)}" for k in spellings) + f", NULL) as c{i}"
        for i, spellings in enumerate(by_name.values())
    )
    source = _Source(path, "jsonl", f"(select _ord, _raw{selects} from _jsonl where _ok)", [], present, "x._raw",
                     len(numbered), warnings)
    source.structural = [(line, "not a JSON object", raw) for line, raw in
                         con.execute("select _ord, _raw from _jsonl where not _ok order by _ord").fetchall()]
    return source


# --- typing and checking rows ---------------------------------------------------------------------


@dataclass
class _Checked:
    rows_loaded: int
    rows_quarantined: int
    line_sql: str  # over `_typed t`: the row's line in the file
    line_join: str
    duplicate_rows: int = 0


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


TRUE_WORDS = ("'true'", "'t'", "'yes'", "'y'", "'1'")
FALSE_WORDS = ("'false'", "'f'", "'no'", "'n'", "'0'")


def _one_of(expression: str, literals: Collection[str]) -> str:
    """`expression` equals one of the SQL literals, as an OR chain (NULL for NULL, like IN).

    Not `IN (...)` nor `list_contains`: DuckDB turns a list of five constants into a join, and a join
    in the typing pass loses the file's row order (see _create_typed_rows).
    """
    return "(" + " or ".join(f"{expression} = {literal}" for literal in literals) + ")"


def _value(column: Column, v: str) -> str:
    """DuckDB expression typing the trimmed text `v` as the column's type (NULL when it does not parse)."""
    if column.type == DATE:
        return f"try_cast({v} as date)"
    if column.type == TIMESTAMP:
        return f"timezone('UTC', try_cast({v} as timestamptz))"
    if column.type in (QUANTITY, INTEGER):
        return f"try_cast({v} as double)"  # an INTEGER is made one after checking it is whole
    if column.type == BOOLEAN:
        # Surrounding blanks and tabs skipped, as DuckDB's casts do for numbers and dates.
        word = f"lower(trim({v}, chr(32) || chr(9) || chr(10) || chr(13)))"
        return (f"case when {_one_of(word, TRUE_WORDS)} then true "
                f"when {_one_of(word, FALSE_WORDS)} then false end")
    if column.type.startswith("DECIMAL"):
        return f"try_cast({v} as {column.type})"
    return v


def _expected(column: Column) -> str:
    return {
        DATE: "a date (YYYY-MM-DD)",
        TIMESTAMP: "a timestamp (ISO 8601)",
        QUANTITY: "a number",
        INTEGER: "a whole number",
        BOOLEAN: "true or false",
        MONEY: "a decimal amount with '.' as decimal point",
    }.get(column.type, f"a {column.type} value")


def _column_problems(column: Column, v: str, x: str, id_types: _IdTypes) -> list[tuple[str, str]]:
    """(condition, reason SQL) pairs for one column, in the order they are reported.

    Conditions are cheap tests on the typed value first (`x is null` covers both a missing value
    and one that does not parse); the reason, built only for the rows that fail, tells them apart.
    """
    shown = f"left({v}, {_MAX_VALUE_IN_REASON})"

    def got(expected: str) -> str:
        return f"{_sql_literal('got ' + chr(39))} || {shown} || {_sql_literal(chr(39) + ', ' + expected)}"

    missing = _sql_literal("missing value (the column is required)")
    unparsed = got(f"expected {_expected(column)}")
    problems: list[tuple[str, str]] = []
    if column.type == "VARCHAR":
        if column.required:
            problems.append((f"{x} is null", missing))
    elif column.required:
        problems.append((f"{x} is null", f"case when {v} is null then {missing} else {unparsed} end"))
    else:
        problems.append((f"{x} is null and {v} is not null", unparsed))
    if column.type in (QUANTITY, INTEGER):
        bad_number = f"not isfinite({x})"
        if column.type == INTEGER:
            bad_number += f" or {x} <> round({x}) or abs({x}) > 2147483647"
        problems.append((bad_number, unparsed))
    if column.allowed:
        if column.type == "VARCHAR":
            condition = f"not {_one_of(f'lower({x})', [_sql_literal(a.lower()) for a in column.allowed])}"
        else:
            condition = f"not {_one_of(x, column.allowed)}"
        problems.append((condition, got(f"expected one of {', '.join(column.allowed)}")))
    if column.minimum is not None:
        problems.append((f"{x} < {column.minimum!r}", got(f"below the minimum {column.minimum:g}")))
    if column.maximum is not None:
        problems.append((f"{x} > {column.maximum!r}", got(f"above the maximum {column.maximum:g}")))
    if column.references is not None:
        # A cast to an ENUM of the master data's ids, not a join or IN (subquery): the typing pass must
        # read one table and nothing else, or DuckDB does not keep the file's row order (see _create_typed_rows).
        known = id_types.items if column.references == ITEMS_PATH else id_types.locations
        wildcard = f" and {x} <> {_sql_literal(column.wildcard)}" if column.wildcard else ""
        problems.append((f"try_cast({x} as {known}) is null{wildcard}",
                         f"{_sql_literal(f'unknown {column.name} ' + chr(39))} || {x} || "
                         f"{_sql_literal(chr(39) + f': not in {column.references}')}"))
    return problems


def _rule_sql(rule: RowRule, entity: Entity, present: dict[str, str]) -> str | None:
    """The rule over the typed values, or None when a column it needs is not in the file."""
    sql = rule.sql
    for i, column in enumerate(entity.columns):
        if re.search(rf"\b{column.name}\b", rule.sql):
            if column.name not in present:
                return None
            sql = re.sub(rf"\b{column.name}\b", f"val_{i}", sql)
    return sql


def _typed_table_sql(entity: Entity, source: _Source) -> str:
    """`_typed_rows`, in one pass over the file: the ordinal (unless it is the row's position), the row's
    first problem ('column<US>reason'), its raw record when it has one, and the typed contract columns.

    Problems, per column in contract order: missing required value, value that does not parse,
    value outside the allowed list, below the minimum, above the maximum, an id not in the master
    data (looked up in the small master tables), fractional units of an item not sold by weight;
    then the row rules. Duplicate keys need every row, so they are found afterwards.
    """
    texts = ["x.*"]
    values: list[str] = []
    typed_columns: list[str] = []
    cases: list[str] = []
    item_value = None
    for i, column in enumerate(entity.columns):
        if column.name not in source.present:
            typed_columns.append(f'cast(null as {column.type}) as "{column.name}"')
            continue
        text, value = f"raw_{i}", f"val_{i}"
        # Ids and texts are trimmed; DuckDB's casts skip surrounding blanks themselves.
        trimmed = f"trim(x.{source.present[column.name]})" if column.type == "VARCHAR" else \
            f"x.{source.present[column.name]}"
        texts.append(f"nullif({trimmed}, '') as {text}")
        values.append(f"{_value(column, text)} as {value}")
        if column.type == INTEGER:
            # only rows without a problem hold a whole number that fits
            typed_columns.append(f'case when _problem is null then cast({value} as integer) end as "{column.name}"')
        else:
            typed_columns.append(f'{value} as "{column.name}"')
        if column.name == "item_id" and column.references == ITEMS_PATH:
            item_value = value
        for condition, reason in _column_problems(column, text, value, source.id_types):
            cases.append(f"when {condition} then {_sql_literal(column.name)} || chr(31) || {reason}")
    units = [(column, f"val_{i}") for i, column in enumerate(entity.columns)
             if column.whole_units and column.name in source.present]
    sold_by_unit = ""
    if item_value is not None and units:
        # One lookup for all the quantity columns, and only for rows holding a fractional quantity: the
        # item is NULL for the others, and a NULL looks nothing up.
        fractional = " or ".join(f"{value} <> floor({value})" for _, value in units)
        sold_by_unit = (f", try_cast((case when {fractional} then {item_value} end) as {source.id_types.unit_items}) "
                        "is not null as _item_sold_by_unit")
        for column, value in units:
            cases.append(
                f"when {value} <> floor({value}) and _item_sold_by_unit "
                f"then {_sql_literal(column.name)} || chr(31) || 'got ' || {value} || "
                f"{_sql_literal(': fractional units, but item ' + chr(39))} || {item_value} || "
                f"{_sql_literal(chr(39) + ' does not sell by weight')}"
            )
    for rule in entity.row_rules:
        sql = _rule_sql(rule, entity, source.present)
        if sql is not None:
            cases.append(f"when not coalesce({sql}, true) then {_sql_literal(rule.column)} || chr(31) || "
                         f"{_sql_literal(rule.reason)}")
    problem = f"case {' '.join(cases)} end" if cases else "cast(null as varchar)"
    ordinal = "" if source.ordinal_from_position else "_ord, "
    # The key's hash, for finding repeated keys without hashing the key's columns again (a lateral
    # alias: the typed columns named just before it). The key's columns are required, so present.
    key_hash = KEY_HASH_SQL.format(", ".join(f'"{k}"' for k in entity.key))
    return (
        "create temp table _typed_rows as "
        f"select {ordinal}_problem, case when _problem is not null then {source.raw_record_sql} end as _raw, "
        f"{', '.join(typed_columns)}, {key_hash} as _key_hash "
        f"from (select v.*, {problem} as _problem "
        f"      from (select *{sold_by_unit} "
        f"            from (select *{''.join(', ' + v for v in values)} "
        f"                  from (select {', '.join(texts)} from {source.sql} x) x) v) v) x"
    )


def _type_rows(con: duckdb.DuckDBPyConnection, entity: Entity, source: _Source) -> None:
    """Build `_typed_rows` from the file (the one full pass) and the view `_typed` over it with each row's
    ordinal `_ord`, then collect the CSV reader's rejects."""
    with _master_id_types(con, entity, source.id_types), _insertion_order(con, True):
        _create_typed_rows(con, entity, source)
    ordinal = "rowid + 1 as _ord, " if source.ordinal_from_position else ""
    con.execute(f"create temp view _typed as select {ordinal}* from _typed_rows")
    if source.rejects_table:
        _collect_csv_rejects(con, source)


@contextmanager
def _master_id_types(con: duckdb.DuckDBPyConnection, entity: Entity, types: _IdTypes) -> Iterator[None]:
    """The master data's ids as temporary ENUM types while the typing pass runs, then dropped.

    The unknown-id and fractional-units checks are casts to them, not joins (see _create_typed_rows).
    """
    items = "select trim(item_id) as id, coalesce(arg_max(sold_by_weight, _extract_date), false) as by_weight " \
            "from raw.erp__items where trim(item_id) is not null group by 1"
    wanted = []
    if any(c.references == ITEMS_PATH for c in entity.columns):
        wanted += [(types.items, f"select id from ({items}) order by id"),
                   (types.unit_items, f"select id from ({items}) where not by_weight order by id")]
    if any(c.references == LOCATIONS_PATH for c in entity.columns):
        wanted.append((types.locations, "select distinct trim(location_id) as id from raw.erp__locations "
                                        "where trim(location_id) is not null order by id"))
    created: list[str] = []
    try:
        for name, ids in wanted:
            con.execute(f"create temp type {name} as enum ({ids})")
            created.append(name)
        yield
    finally:
        for name in created:
            con.execute(f"drop type {name}")


def _create_typed_rows(con: duckdb.DuckDBPyConnection, entity: Entity, source: _Source) -> None:
    """Run the typing pass; a CSV's record ordinal is the row's position in `_typed_rows` when DuckDB keeps
    the file's order, else a `row_number()` window numbers the records as they are read (one core).

    DuckDB keeps the row order of a SELECT of projections and WHERE from one table, written by its
    order-keeping "batch" insert; a join or a subquery does not (an `IN (subquery)` and a long `IN` list,
    which DuckDB turns into a join, both reordered files in tests). The plan says which insert it is.
    """
    sql = _typed_table_sql(entity, source)
    try:
        if source.ordinal_from_position:
            plan = " ".join(str(v) for row in con.execute("explain " + sql, source.params).fetchall() for v in row)
            if "batch create table as" not in plan.lower():
                # On one thread DuckDB never plans the batch insert: the window costs nothing extra there.
                threads = con.execute("select current_setting('threads')").fetchall()[0][0]
                log.log(logging.WARNING if threads > 1 else logging.INFO,
                        "%s: the typing pass would not keep the file's row order; numbering rows with a "
                        "window instead (slower)", source.path)
                source.sql = f"(select row_number() over () as _ord, * from {source.sql})"
                source.ordinal_from_position = False
                sql = _typed_table_sql(entity, source)
        con.execute(sql, source.params)
    except duckdb.Error as exc:
        if source.rejects_table:
            con.execute(f"drop table if exists {source.rejects_table}")
        raise _Rejected(f"cannot be read as {source.format}: {_first_line(str(exc))}") from exc


@contextmanager
def _insertion_order(con: duckdb.DuckDBPyConnection, preserve: bool) -> Iterator[None]:
    """DuckDB's `preserve_insertion_order` for the statements inside, then the caller's value again.

    Not inside a transaction: a statement that fails aborts it, and the setting could not be restored.
    """
    before = con.execute("select current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute(f"set preserve_insertion_order = {str(preserve).lower()}")
    try:
        yield
    finally:
        con.execute(f"set preserve_insertion_order = {str(before).lower()}")


def _check_rows(con: duckdb.DuckDBPyConnection, entity: Entity, source: _Source, stats: _ByteStats) -> _Checked:
    """Number the lines, find repeated keys (`_duplicate_rows`), count, and check conservation."""
    typed_rows, first_level_bad = con.execute("select count(*), count(_problem) from _typed_rows").fetchall()[0]
    line_sql, line_join = _line_numbers(con, source, stats, typed_rows)
    _find_duplicate_keys(con, entity, line_sql, line_join)
    duplicates = con.execute("select count(*) from _duplicate_rows").fetchall()[0][0]
    quarantined = first_level_bad + duplicates + len(source.structural)
    loaded = typed_rows - first_level_bad - duplicates
    if loaded + quarantined != source.rows_in_file:
        # The parser lost or invented a record: refuse the file rather than lose a row silently.
        raise _Rejected(f"the file has {source.rows_in_file} data rows but the reader produced "
                        f"{loaded + quarantined}; nothing loaded")
    return _Checked(loaded, quarantined, line_sql, line_join, duplicates)


def _line_numbers(con: duckdb.DuckDBPyConnection, source: _Source, stats: _ByteStats,
                  typed_rows: int) -> tuple[str, str]:
    """SQL giving each of the `typed_rows` rows of `_typed t` its line number, and the join it needs.

    Parquet and JSON Lines know their row's position already. A CSV file where every line is
    one record (no quote character, no blank line) numbers good rows from their ordinal, shifted
    past the lines the reader rejected (an ASOF join on the few rejects). Otherwise, quoted fields
    may span lines, or blank lines (not rows) shift the rest: the file is scanned with Python's csv
    module to learn where each record starts.
    """
    if source.format != "csv":
        return "t._ord", ""
    rows_if_lines_are_records = max(stats.physical_lines - 1 - len(source.csv_blank_rejects), 0)
    # Fewer rows than lines: a blank line, or a record the reader lost. The csv module tells them apart.
    if stats.lines_are_records and typed_rows + len(source.structural) == rows_if_lines_are_records:
        source.rows_in_file = rows_if_lines_are_records
        if not source.csv_rejected_lines:
            return "t._ord + 1", ""
        # Good row k follows reject j (rank j, line r_j) when k >= r_j - j; its line is k + 1 + #such rejects.
        offsets = pa.table({
            "_from": pa.array([r - j for j, r in enumerate(source.csv_rejected_lines, start=1)], pa.int64()),
            "_shift": pa.array(list(range(1, len(source.csv_rejected_lines) + 1)), pa.int64()),
        })
        con.register("_offsets_arrow", offsets)
        con.execute("create temp table _line_offsets as select _from, max(_shift) as _shift "
                    "from _offsets_arrow group by _from")
        con.unregister("_offsets_arrow")
        return "t._ord + 1 + coalesce(o._shift, 0)", "asof left join _line_offsets o on t._ord >= o._from"
    records = _csv_records(source.path)
    rejected = set(source.csv_rejected_lines)
    good_lines = [pline for dline, pline, blank in records if dline not in rejected and not blank]
    source.rows_in_file = sum(1 for _, _, blank in records if not blank)
    physical = {dline: pline for dline, pline, _ in records}
    source.structural = [(physical.get(line, line), reason, raw) for line, reason, raw in source.structural]
    if len(good_lines) != typed_rows:
        raise _Rejected(f"the file has {len(good_lines)} well-formed data rows but the reader produced "
                        f"{typed_rows}; nothing loaded")
    line_map = pa.table({"_ord": pa.array(range(1, len(good_lines) + 1), pa.int64()),
                         "_line": pa.array(good_lines, pa.int64())})
    con.register("_line_map_arrow", line_map)
    con.execute("create temp table _line_map as select * from _line_map_arrow")
    con.unregister("_line_map_arrow")
    return "m._line", "join _line_map m on t._ord = m._ord"


def _csv_records(path: Path) -> list[tuple[int, int, bool]]:
    """(DuckDB's line number, physical first line, blank) of every data record after the header.

    DuckDB numbers records by counting line ends outside quoted fields, blank lines included;
    the physical line also counts the line ends inside quoted fields. A record of blanks only
    is not a row.
    """
    records: list[tuple[int, int, bool]] = []
    with _csv_field_limit(), path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        previous_end = 0
        for dline, row in enumerate(reader, start=1):
            start = previous_end + 1
            previous_end = reader.line_num
            if dline == 1 or not row:
                continue  # the header; a blank line (neither DuckDB nor the contract counts it as a row)
            records.append((dline, start, len(row) == 1 and not row[0].strip()))
    return records


@contextmanager
def _csv_field_limit() -> Iterator[None]:
    """Lift the csv module's 128 KiB field limit: a long field is DuckDB's to reject as a row, and it must
    not stop the load here."""
    previous = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _find_duplicate_keys(con: duckdb.DuckDBPyConnection, entity: Entity, line_sql: str, line_join: str) -> None:
    """`_duplicate_rows`: every row (without another problem) whose key repeats within the extract.

    Nothing says which of the rows is right, so all of them are quarantined. The repeated keys
    are found by one aggregation; only their rows are read again (a semi join on the few keys).
    """
    key = ", ".join(f'"{k}"' for k in entity.key)
    # Grouping by one 64-bit hash of the key (`_key_hash`, computed in the typing pass) is cheaper than
    # grouping by the key's columns. Equal keys have equal hashes, so no repeat is missed; rows whose
    # hashes collide without equal keys are dropped by the grouping on the key itself (`repeated`).
    con.execute(f"""create temp table _duplicate_rows as
        with repeated_hashes as (
            select _key_hash from _typed_rows where _problem is null group by 1 having count(*) > 1
        ),
        candidates as (
            select t.*, {line_sql} as _line from _typed t {line_join}
            semi join repeated_hashes k on t._key_hash = k._key_hash
            where t._problem is null
        ),
        repeated as (
            select {key},
                   array_to_string(list_slice(list(_line order by _line), 1, 10), ', ')
                   || case when count(*) > 10 then ' and ' || (count(*) - 10) || ' more' else '' end as _lines
            from candidates group by all having count(*) > 1
        )
        select c._ord, c._line, {_sql_literal(entity.key[0])} as _column,
               {_sql_literal(f"duplicate key ({', '.join(entity.key)}) = (")}
               || {" || ', ' || ".join(f'cast(c."{k}" as varchar)' for k in entity.key)}
               || ') within the extract, on lines ' || r._lines as _reason,
               json_object({", ".join(f"{_sql_literal(c)}, cast(c.{_sql_identifier(c)} as varchar)"
                                       for c in entity.column_names)})::varchar as _raw
        from candidates c join repeated r using ({key})""")


# --- committing ---------------------------------------------------------------------------------


def _file_id(relative_path: str, sha256: str) -> str:
    return hashlib.sha256(f"{relative_path}\0{sha256}".encode()).hexdigest()[:16]


def _register(con, outcome: FileOutcome, landed: LandedFile, stat: os.stat_result, sha256: str, load_id: str,
              registered_at: datetime | None) -> None:
    registered_at = registered_at or datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        "insert into ops.file_registry values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            _file_id(landed.relative_path, sha256), outcome.entity, landed.relative_path, landed.extract_date,
            landed.path.suffix.lower().lstrip(".") or None, stat.st_size, stat.st_mtime_ns, sha256,
            outcome.outcome, outcome.reason, outcome.rows_in_file,
            outcome.rows_loaded if outcome.outcome == LOADED else None,
            outcome.rows_quarantined if outcome.outcome == LOADED else None,
            "; ".join(outcome.warnings) or None, outcome.restated_file, None, load_id, registered_at,
        ],
    )


def _commit_extract(con, entity: Entity, landed: LandedFile, stat: os.stat_result, sha256: str, load_id: str,
                    outcome: FileOutcome, source: _Source, checked: _Checked) -> None:
    """Restate the entity's extract date with this file's rows, its quarantine and registry rows: all or nothing."""
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    file_id = _file_id(landed.relative_path, sha256)
    columns = ", ".join(f'"{c}"' for c in entity.column_names)
    metadata = ", ".join(name for name, _ in METADATA_COLUMNS)
    structural = pa.table({
        "_line": pa.array([s[0] for s in source.structural], pa.int64()),
        "_reason": pa.array([s[1] for s in source.structural], pa.string()),
        "_raw": pa.array([s[2] for s in source.structural], pa.string()),
    })
    without_duplicates = " and t._ord not in (select _ord from _duplicate_rows)" if checked.duplicate_rows else ""
    # Each row carries its line, so raw need not hold the rows in file order; without that order DuckDB
    # writes full row groups in parallel (about 30 % faster on 10 million POS rows). The caller's setting
    # comes back after the commit or rollback, never inside a transaction that a failure has aborted.
    with _insertion_order(con, False):
        con.execute("begin transaction")
        try:
            earlier = con.execute(
                "select string_agg(file, ', ' order by file) from ops.file_registry "
                "where entity = ? and extract_date = ? and outcome = ?",
                [entity.path, landed.extract_date, LOADED],
            ).fetchall()[0][0]
            outcome.restated_file = earlier
            con.execute(f"delete from raw.{entity.name} where _extract_date = ?", [landed.extract_date])
            con.execute(
                f"""insert into raw.{entity.name} ({columns}, {metadata})
                    select {", ".join(f't."{c}"' for c in entity.column_names)}, ?, ?, ?, ?, {checked.line_sql}
                    from _typed t {checked.line_join}
                    where t._problem is null{without_duplicates}""",
                [landed.relative_path, landed.extract_date, load_id, loaded_at],
            )
            quarantine_values = [file_id, entity.path, landed.relative_path, landed.extract_date, load_id, loaded_at]
            con.register("_structural_arrow", structural)
            con.execute(
                f"""insert into ops.quarantine
                    select ?, ?, ?, ?, _line, _column, _reason, _raw, ?, ?
                    from (
                        select {checked.line_sql} as _line, split_part(t._problem, chr(31), 1) as _column,
                               split_part(t._problem, chr(31), 2) as _reason, t._raw
                        from _typed t {checked.line_join} where t._problem is not null
                        union all
                        select _line, _column, _reason, _raw from _duplicate_rows
                        union all
                        select _line, NULL, _reason, _raw from _structural_arrow
                    )
                    order by _line""",
                quarantine_values,
            )
            con.unregister("_structural_arrow")
            con.execute(
                "update ops.file_registry set outcome = ?, superseded_by = ? "
                "where entity = ? and extract_date = ? and outcome = ?",
                [SUPERSEDED, landed.relative_path, entity.path, landed.extract_date, LOADED],
            )
            _register(con, outcome, landed, stat, sha256, load_id, loaded_at)
            con.execute("commit")
        except Exception:
            try:
                con.execute("rollback")
            except duckdb.TransactionException:
                pass  # a failed commit has ended the transaction already; its own error is the one to raise
            raise


# --- conservation -------------------------------------------------------------------------------


@dataclass
class ConservationReport:
    """Per entity: every accepted file's rows are in raw or in quarantine, and the counts agree."""

    entity: str
    files_checked: int = 0
    rows_in_files: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.violations


def conservation_report(con: duckdb.DuckDBPyConnection, entity: Entity) -> ConservationReport:
    """Compare the registry's counts with the rows actually in raw and in ops.quarantine."""
    report = ConservationReport(entity.path)
    rows = con.execute(
        f"""with in_raw as (
                select _file, _load_id, count(*) as n from raw.{entity.name} group by all
            ),
            in_quarantine as (
                select file_id, count(*) as n from ops.quarantine where entity = ? group by all
            )
            select r.file, r.outcome, r.rows_in_file, r.rows_loaded, r.rows_quarantined,
                   coalesce(w.n, 0), coalesce(q.n, 0)
            from ops.file_registry r
            left join in_raw w on w._file = r.file and w._load_id = r.load_id
            left join in_quarantine q on q.file_id = r.file_id
            where r.entity = ? and r.outcome in (?, ?)
            order by r.file""",
        [entity.path, entity.path, LOADED, SUPERSEDED],
    ).fetchall()
    for file, outcome, in_file, loaded, quarantined, raw_rows, quarantine_rows in rows:
        report.files_checked += 1
        report.rows_in_files += in_file
        if outcome == LOADED:
            report.rows_loaded += loaded
            report.rows_quarantined += quarantined
        if in_file != loaded + quarantined:
            report.violations.append(f"{file}: {in_file} rows in the file, {loaded} loaded + {quarantined} quarantined")
        expected_raw = loaded if outcome == LOADED else 0
        if raw_rows != expected_raw:
            report.violations.append(
                f"{file} ({outcome}): {raw_rows} rows in raw.{entity.name}, expected {expected_raw}")
        if quarantine_rows != quarantined:
            report.violations.append(f"{file}: {quarantine_rows} rows in ops.quarantine, registry says {quarantined}")
    orphans = con.execute(
        f"""select _file, count(*) from raw.{entity.name} w
            where not exists (select 1 from ops.file_registry r
                              where r.file = w._file and r.load_id = w._load_id and r.outcome = ?)
            group by all order by 1""",
        [LOADED],
    ).fetchall()
    for file, count in orphans:
        report.violations.append(f"{file}: {count} rows in raw.{entity.name} without a loaded file in the registry")
    return report


# --- provenance ---------------------------------------------------------------------------------


def load_provenance(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> int:
    """Record which landed columns are observed, derived or synthetic (ops.column_provenance)."""
    path = landing_dir / PROVENANCE_FILE
    rows: list[tuple[str, str, str, str | None, str | None]] = []
    if path.exists():
        document = json.loads(path.read_text(encoding="utf-8"))
        dataset = document.get("dataset")
        for entity_path, spec in document.get("entities", {}).items():
            for column, info in spec.get("columns", {}).items():
                rows.append((entity_path, column, info.get("origin", "observed"), info.get("rule"), dataset))
    con.execute("create schema if not exists ops")
    con.execute("begin transaction")
    con.execute(
        """create or replace table ops.column_provenance (
            entity varchar, column_name varchar, origin varchar, rule varchar, dataset varchar)"""
    )
    if rows:
        con.executemany("insert into ops.column_provenance values (?, ?, ?, ?, ?)", rows)
    con.execute("commit")
    return len(rows)


def iter_registry(con: duckdb.DuckDBPyConnection, load_id: str) -> Iterator[tuple]:
    """(entity, file, outcome, reason, rows_loaded, rows_quarantined) registered by one load."""
    yield from con.execute(
        "select entity, file, outcome, reason, rows_loaded, rows_quarantined from ops.file_registry "
        "where load_id = ? order by entity nulls first, file",
        [load_id],
    ).fetchall()


__all__ = [
    "DEFERRED", "DUPLICATE", "LOADED", "REJECTED", "SUPERSEDED", "ConservationReport", "EntityLoad", "FileOutcome",
    "LandedFile", "LandingError", "LandingScan", "conservation_report", "ensure_warehouse_schema",
    "iter_registry", "load_entity", "load_provenance", "record_misplaced_files", "scan_landing", "validate_landing",
]
