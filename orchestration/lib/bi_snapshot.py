"""The BI snapshot: a read-only copy of the marts that BI tools query without ever meeting the
warehouse writer's lock or a half-built table (DESIGN §1).

Layout of the snapshot folder (``bi/`` by default)::

    bi/retail_marts.duckdb                the current DuckDB file (a hard link into versions/<id>/)
    bi/current -> versions/<id>           symlink to the current version's folder
    bi/versions/<id>/retail_marts.duckdb  schema ``marts`` with every mart, plus ``main.snapshot_manifest``
    bi/versions/<id>/parquet/<mart>.parquet
    bi/versions/<id>/manifest.json        version id, publish time, row count and file of every mart

The file is not called marts.duckdb because DuckDB names a database after its file: a catalog
``marts`` next to the schema ``marts`` would make ``marts.fct_sell_through`` ambiguous.

A version is built completely in ``versions/.building-<id>/`` and renamed into place; then
``bi/retail_marts.duckdb`` and ``bi/current`` are each replaced by one atomic rename. A reader that
opens ``bi/retail_marts.duckdb``, or resolves ``bi/current`` once and reads from the folder it points
to, sees exactly one version. Any failure before the renames removes the half-built folder and
leaves the previous version in place. The last ``keep_versions`` versions stay on disk so that
readers still holding an older one can finish.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

ENV_BI_DIR = "RETAILOPS_BI_DIR"
SNAPSHOT_FILE = "retail_marts.duckdb"
CURRENT_LINK = "current"
VERSIONS_DIR = "versions"
MANIFEST_FILE = "manifest.json"
PARQUET_DIR = "parquet"
SOURCE_SCHEMA = "marts"
BUILDING_PREFIX = ".building-"
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class SnapshotError(RuntimeError):
    """The snapshot could not be published; the previous version is still the current one."""


@dataclass(frozen=True)
class SnapshotVersion:
    """One published version of the marts."""

    version_id: str
    folder: Path
    published_at: str
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def duckdb_file(self) -> Path:
        return self.folder / SNAPSHOT_FILE

    def parquet_file(self, table: str) -> Path:
        return self.folder / PARQUET_DIR / f"{table}.parquet"


def bi_dir_for(warehouse: Path) -> Path:
    """The snapshot folder: $RETAILOPS_BI_DIR (read when called), else `bi/` beside the warehouse's
    folder, i.e. bi/ at the project root for the default warehouse/retail.duckdb."""
    configured = os.environ.get(ENV_BI_DIR)
    if configured:
        return Path(configured).resolve()
    return (Path(warehouse).resolve().parent.parent / "bi").resolve()


def sqlalchemy_url(bi_dir: Path) -> str:
    """The SQLAlchemy URL a BI tool uses through duckdb-engine, read-only."""
    return f"duckdb:///{(bi_dir / SNAPSHOT_FILE).resolve()}?access_mode=read_only"


def publish_snapshot(
    warehouse: Path,
    bi_dir: Path,
    tables: Sequence[str] | None = None,
    keep_versions: int = 3,
    now: datetime | None = None,
) -> SnapshotVersion:
    """Copy `tables` (default: every table in schema marts) of `warehouse` into a new version
    under `bi_dir` and make it the current one atomically; return that version."""
    if keep_versions < 1:
        raise ValueError(f"keep_versions must be at least 1, got {keep_versions}")
    if not warehouse.is_file():
        raise SnapshotError(f"warehouse {warehouse} does not exist; nothing was published")
    versions = bi_dir / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    published_at = (now or datetime.now(UTC)).astimezone(UTC)
    version_id = f"{published_at:%Y%m%dT%H%M%S%fZ}-{os.getpid()}"
    with _publish_lock(bi_dir):
        building = versions / f"{BUILDING_PREFIX}{version_id}"
        try:
            row_counts = _build_version(warehouse, building, tables, version_id, published_at)
            final = versions / version_id
            os.rename(building, final)
        except Exception as exc:
            shutil.rmtree(building, ignore_errors=True)
            if isinstance(exc, SnapshotError):
                raise
            raise SnapshotError(f"publishing the BI snapshot from {warehouse} failed: {exc}") from exc
        _fsync_dir(versions)
        _swap_current(bi_dir, version_id)
        _remove_old_versions(bi_dir, keep_versions)
    return SnapshotVersion(version_id, final, published_at.isoformat(), row_counts)


def current_snapshot(bi_dir: Path) -> SnapshotVersion | None:
    """The current version (resolved once), or None when nothing was published yet."""
    link = bi_dir / CURRENT_LINK
    if not link.is_symlink():
        return None
    folder = Path(os.path.realpath(link))
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    return SnapshotVersion(
        version_id=manifest["version_id"],
        folder=folder,
        published_at=manifest["published_at"],
        row_counts={t["table"]: t["row_count"] for t in manifest["tables"]},
    )


def _build_version(
    warehouse: Path,
    building: Path,
    tables: Sequence[str] | None,
    version_id: str,
    published_at: datetime,
) -> dict[str, int]:
    (building / PARQUET_DIR).mkdir(parents=True)
    snapshot_file = building / SNAPSHOT_FILE
    con = duckdb.connect(str(snapshot_file))
    try:
        con.execute(f"attach '{_sql_path(warehouse)}' as warehouse (read_only)")
        available = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'warehouse' and table_schema = ? and table_type = 'BASE TABLE'",
                [SOURCE_SCHEMA],
            ).fetchall()
        }
        wanted = sorted(available) if tables is None else list(tables)
        missing = sorted(set(wanted) - available)
        if missing:
            raise SnapshotError(
                f"warehouse {warehouse} lacks {', '.join(f'{SOURCE_SCHEMA}.{t}' for t in missing)}; "
                "nothing was published and the previous BI snapshot stays current"
            )
        if not wanted:
            raise SnapshotError(f"warehouse {warehouse} has no table in schema {SOURCE_SCHEMA}; nothing was published")
        con.execute(f"create schema {SOURCE_SCHEMA}")
        row_counts: dict[str, int] = {}
        # one read transaction on the warehouse, so every mart comes from the same state
        con.execute("begin transaction")
        for table in wanted:
            source = f"warehouse.{SOURCE_SCHEMA}.{_identifier(table)}"
            con.execute(f"create table {SOURCE_SCHEMA}.{_identifier(table)} as select * from {source}")
            parquet = building / PARQUET_DIR / f"{table}.parquet"
            con.execute(
                f"copy {SOURCE_SCHEMA}.{_identifier(table)} to '{_sql_path(parquet)}' "
                "(format parquet, compression zstd)"
            )
            row_counts[table] = con.execute(f"select count(*) from {SOURCE_SCHEMA}.{_identifier(table)}").fetchone()[0]
        con.execute(
            "create table main.snapshot_manifest (version_id varchar, published_at timestamptz, "
            "table_name varchar, row_count bigint, parquet_file varchar)"
        )
        con.executemany(
            "insert into main.snapshot_manifest values (?, ?, ?, ?, ?)",
            [[version_id, published_at, t, n, f"{PARQUET_DIR}/{t}.parquet"] for t, n in row_counts.items()],
        )
        con.execute("commit")
        con.execute("detach warehouse")
        con.execute("checkpoint")
    finally:
        con.close()
    _check_parquet(building, row_counts)
    manifest = {
        "version_id": version_id,
        "published_at": published_at.isoformat(),
        "source_warehouse": str(warehouse),
        "duckdb_file": SNAPSHOT_FILE,
        "tables": [
            {"table": t, "schema": SOURCE_SCHEMA, "row_count": n, "parquet_file": f"{PARQUET_DIR}/{t}.parquet"}
            for t, n in row_counts.items()
        ],
    }
    (building / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for path in [snapshot_file, building / MANIFEST_FILE, *(building / PARQUET_DIR).iterdir()]:
        _fsync_file(path)
        path.chmod(READ_ONLY)
    _fsync_dir(building / PARQUET_DIR)
    _fsync_dir(building)
    return row_counts


def _check_parquet(building: Path, row_counts: dict[str, int]) -> None:
    """Read every Parquet file back: a truncated or unreadable file must never be published."""
    with duckdb.connect() as con:
        for table, expected in row_counts.items():
            parquet = building / PARQUET_DIR / f"{table}.parquet"
            actual = con.execute(f"select count(*) from read_parquet('{_sql_path(parquet)}')").fetchone()[0]
            if actual != expected:
                raise SnapshotError(f"{parquet} holds {actual} rows, expected {expected}; nothing was published")


def _swap_current(bi_dir: Path, version_id: str) -> None:
    """Point bi/retail_marts.duckdb and bi/current at the new version, each with one atomic rename."""
    target = bi_dir / VERSIONS_DIR / version_id
    staged_file = bi_dir / f".{SNAPSHOT_FILE}.{version_id}"
    staged_file.unlink(missing_ok=True)
    os.link(target / SNAPSHOT_FILE, staged_file)
    os.replace(staged_file, bi_dir / SNAPSHOT_FILE)
    staged_link = bi_dir / f".{CURRENT_LINK}.{version_id}"
    staged_link.unlink(missing_ok=True)
    os.symlink(Path(VERSIONS_DIR) / version_id, staged_link)
    os.replace(staged_link, bi_dir / CURRENT_LINK)
    _fsync_dir(bi_dir)


def _remove_old_versions(bi_dir: Path, keep_versions: int) -> None:
    """Keep the newest `keep_versions` versions (the current one always); drop crashed builds."""
    versions = bi_dir / VERSIONS_DIR
    current = Path(os.path.realpath(bi_dir / CURRENT_LINK)).name
    published = sorted((p for p in versions.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    doomed = [p for p in published[:-keep_versions] if p.name != current]
    doomed += [p for p in versions.iterdir() if p.name.startswith(BUILDING_PREFIX)]
    for folder in doomed:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _publish_lock(bi_dir: Path) -> Iterator[None]:
    """One publisher at a time per snapshot folder (two runs must not interleave their renames)."""
    bi_dir.mkdir(parents=True, exist_ok=True)
    with open(bi_dir / ".publish.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
