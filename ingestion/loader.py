"""Load landing extracts into `raw.<system>__<entity>` tables in DuckDB (landing v1).

Every file of an entity is read as text, checked against the contract, typed, and only then
is the raw table replaced, in one transaction: a bad file stops the load with an error that
names the file, line and column, and leaves what was stored before untouched.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pa_parquet

from ingestion.contract import (
    ENTITIES,
    PROVENANCE_FILE,
    SUPPORTED_EXTENSIONS,
    Entity,
    is_date_dir,
)

log = logging.getLogger(__name__)

METADATA_COLUMNS = (
    ("_file", "VARCHAR"),
    ("_extract_date", "DATE"),
    ("_load_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
    ("_row_number", "BIGINT"),
)


class LandingError(Exception):
    """A landing folder or extract that cannot be loaded; the message names path, line and column."""


@dataclass(frozen=True)
class Extract:
    path: Path
    relative_path: str
    extract_date: date


@dataclass
class EntityLoad:
    entity: str
    files: int
    rows: int
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)


def find_extracts(landing_dir: Path, entity: Entity) -> list[Extract]:
    """All extract files of `entity`, oldest extract date first; errors if there are none."""
    entity_dir = landing_dir / entity.system / entity.entity
    if not entity_dir.is_dir():
        raise LandingError(f"{entity_dir}: landing folder for {entity.path} is missing")
    extracts: list[Extract] = []
    for date_dir in sorted(p for p in entity_dir.iterdir() if p.is_dir()):
        if not is_date_dir(date_dir.name):
            raise LandingError(f"{date_dir}: extract folder name is not a date (expected YYYY-MM-DD)")
        try:
            extract_date = date.fromisoformat(date_dir.name)
        except ValueError as exc:
            raise LandingError(f"{date_dir}: extract folder name is not a valid date: {exc}") from exc
        for path in sorted(date_dir.iterdir()):
            if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
                raise LandingError(
                    f"{path}: not a supported extract type (expected one of {', '.join(SUPPORTED_EXTENSIONS)})"
                )
            extracts.append(Extract(path, path.relative_to(landing_dir).as_posix(), extract_date))
    if not extracts:
        raise LandingError(f"{entity_dir}: no extract files for {entity.path}")
    return extracts


def _normalise(name: str) -> str:
    return name.strip()


def read_header(path: Path) -> list[str]:
    """Column names of an extract, without reading its rows."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), None)
        except UnicodeDecodeError as exc:
            raise LandingError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        if not header:
            raise LandingError(f"{path}: empty file, expected a header row")
        return [_normalise(h) for h in header]
    if suffix == ".parquet":
        return [_normalise(n) for n in pa_parquet.read_schema(path).names]
    table = _read_jsonl(path)
    return [_normalise(n) for n in table.column_names]


def _read_jsonl(path: Path) -> pa.Table:
    try:
        return pa_json.read_json(path)
    except pa.ArrowInvalid as exc:
        raise LandingError(f"{path}: not valid JSON Lines: {exc}") from exc


def check_header(path: Path, entity: Entity) -> list[str]:
    """Raise if a required column is missing; return the contract columns the file has."""
    header = read_header(path)
    for column in entity.required_columns:
        if column not in header:
            raise LandingError(f"{path}: required column '{column}' of {entity.path} is missing")
    return header


def _read_as_text(path: Path, header: list[str]) -> pa.Table:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        options = pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=False
        )
        try:
            table = pa_csv.read_csv(path, convert_options=options)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise LandingError(f"{path}: cannot be read as CSV: {exc}") from exc
    elif suffix == ".parquet":
        table = pa_parquet.read_table(path)
    else:
        table = _read_jsonl(path)
    table = table.rename_columns([_normalise(n) for n in table.column_names])
    return table.cast(pa.schema([(n, pa.string()) for n in table.column_names]))


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed_select(entity: Entity, present: set[str]) -> str:
    parts = []
    for column in entity.columns:
        if column.name in present:
            raw = f"nullif(trim(\"{column.name}\"), '')"
            parts.append(f"try_cast({raw} as {column.type}) as \"{column.name}\"")
        else:
            parts.append(f"cast(null as {column.type}) as \"{column.name}\"")
    return ", ".join(parts)


def _first_bad_value(con: duckdb.DuckDBPyConnection, entity: Entity, present: set[str]) -> str | None:
    for column in entity.columns:
        if column.name not in present:
            continue
        raw = f"nullif(trim(\"{column.name}\"), '')"
        checks = [f"({raw} is not null and try_cast({raw} as {column.type}) is null)"]
        if column.required:
            checks.append(f"{raw} is null")
        if column.allowed:
            allowed = ", ".join(_sql_literal(v) for v in column.allowed)
            checks.append(f"({raw} is not null and {raw} not in ({allowed}))")
        row = con.execute(
            f"select _row_number, \"{column.name}\" from text_rows where {' or '.join(checks)} "
            "order by _row_number limit 1"
        ).fetchone()
        if row is None:
            continue
        line, value = row
        if value is None or not str(value).strip():
            expected = "a value (the column is required)"
        elif column.allowed and str(value).strip() not in column.allowed:
            expected = f"one of {', '.join(column.allowed)}"
        else:
            expected = f"a {column.type} value"
        return f"line {line}, column '{column.name}': got {value!r}, expected {expected}"
    return None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_entity(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, entity: Entity, load_id: str
) -> EntityLoad:
    """Replace `raw.<entity>` with every extract of the entity, or raise and change nothing."""
    extracts = find_extracts(landing_dir, entity)
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    table = f"raw.{entity.name}"
    columns_sql = ", ".join(f'"{c.name}" {c.type}' for c in entity.columns)
    metadata_sql = ", ".join(f"{name} {type_}" for name, type_ in METADATA_COLUMNS)
    con.execute(f"create or replace temp table pending_rows ({columns_sql}, {metadata_sql})")
    ignored: dict[str, list[str]] = {}
    registry: list[tuple] = []
    try:
        for extract in extracts:
            header = check_header(extract.path, entity)
            extra = [h for h in header if h not in entity.column_names]
            if extra:
                ignored[extract.relative_path] = extra
                log.warning("%s: ignoring columns not in the contract: %s", extract.path, extra)
            text = _read_as_text(extract.path, header)
            present = set(entity.column_names) & set(text.column_names)
            text = text.select(sorted(present))
            # Line numbers count the header as line 1 (CSV); Parquet/JSONL rows count from 1.
            first_line = 2 if extract.path.suffix.lower() == ".csv" else 1
            text = text.append_column(
                "_row_number", pa.array(range(first_line, first_line + text.num_rows), pa.int64())
            )
            con.register("text_rows_arrow", text)
            con.execute("create or replace temp table text_rows as select * from text_rows_arrow")
            con.unregister("text_rows_arrow")
            problem = _first_bad_value(con, entity, present)
            if problem:
                raise LandingError(f"{extract.path}: {problem}")
            con.execute(
                f"insert into pending_rows select {_typed_select(entity, present)}, "
                f"?, ?, ?, ?, _row_number from text_rows",
                [extract.relative_path, extract.extract_date, load_id, loaded_at],
            )
            registry.append(
                (load_id, entity.path, extract.relative_path, extract.extract_date,
                 extract.path.stat().st_size, _file_sha256(extract.path), text.num_rows, loaded_at)
            )
        con.execute("begin transaction")
        try:
            con.execute("create schema if not exists raw")
            con.execute("create schema if not exists ops")
            con.execute(f"create or replace table {table} as select * from pending_rows")
            _ensure_ops_tables(con)
            con.execute("delete from ops.file_registry where entity = ?", [entity.path])
            con.executemany(
                "insert into ops.file_registry values (?, ?, ?, ?, ?, ?, ?, ?)", registry
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    finally:
        con.execute("drop table if exists pending_rows")
        con.execute("drop table if exists text_rows")
    rows = sum(r[6] for r in registry)
    return EntityLoad(entity.path, len(extracts), rows, ignored)


def _ensure_ops_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """create table if not exists ops.file_registry (
            load_id varchar, entity varchar, file varchar, extract_date date,
            size_bytes bigint, sha256 varchar, rows bigint, loaded_at timestamp)"""
    )


def validate_landing(landing_dir: Path, entities: tuple[Entity, ...] = ENTITIES) -> None:
    """Check folders, files and required columns of every entity before anything is written."""
    if not landing_dir.is_dir():
        raise LandingError(f"{landing_dir}: landing folder does not exist")
    for entity in entities:
        for extract in find_extracts(landing_dir, entity):
            check_header(extract.path, entity)


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
