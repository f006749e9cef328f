"""BI readers run in their own processes (spawned: nothing inherited from the test process).

Each reader queries the snapshot the way docs/bi.md tells a BI tool to: the DuckDB file opened
read-only, or the Parquet files of one resolved `bi/current`. Per read it records the version id
the snapshot claims and the row count it actually finds in every mart, so the test can check
that every read saw exactly one published version. Kept free of project imports so a spawned
process starts fast.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq


def read_duckdb(bi_dir: Path) -> dict:
    """One read through bi/retail_marts.duckdb: version id, and count(*) of every table in schema marts."""
    con = duckdb.connect(str(bi_dir / "retail_marts.duckdb"), read_only=True)
    try:
        manifest = con.execute("select version_id, table_name, row_count from main.snapshot_manifest").fetchall()
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by table_name"
            ).fetchall()
        ]
        counts = {table: con.execute(f'select count(*) from marts."{table}"').fetchone()[0] for table in tables}
    finally:
        con.close()
    versions = sorted({row[0] for row in manifest})
    return {
        "mode": "duckdb",
        "version_id": versions[0] if len(versions) == 1 else versions,
        "counts": counts,
        "manifest_counts": {row[1]: row[2] for row in manifest},
    }


def read_parquet(bi_dir: Path) -> dict:
    """One read of the Parquet files: resolve bi/current once, then read every file in that folder."""
    folder = Path(os.path.realpath(bi_dir / "current"))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    counts = {path.stem: pq.read_table(path).num_rows for path in sorted((folder / "parquet").glob("*.parquet"))}
    return {
        "mode": "parquet",
        "version_id": manifest["version_id"],
        "counts": counts,
        "manifest_counts": {entry["table"]: entry["row_count"] for entry in manifest["tables"]},
    }


def read_in_a_loop(bi_dir: str, reader: int, ready, stop_file: str, out_file: str, pause_s: float) -> None:
    """Alternate DuckDB and Parquet reads until `stop_file` names a version this reader has seen
    through both; then write {"observations", "errors"} to `out_file`."""
    folder = Path(bi_dir)
    observations: list[dict] = []
    errors: list[str] = []
    seen: dict[str, set[str]] = {"duckdb": set(), "parquet": set()}
    announced = False
    # a reader never outlives a stuck test (the test terminates its readers when it fails; this
    # is the last resort, far beyond the slowest build seen on a loaded 2-core machine)
    deadline = time.monotonic() + 3600
    read_number = reader  # readers start on different modes
    while time.monotonic() < deadline:
        mode = "duckdb" if read_number % 2 == 0 else "parquet"
        read_number += 1
        try:
            observation = read_duckdb(folder) if mode == "duckdb" else read_parquet(folder)
        except Exception as exc:  # every failure is a finding: record it and keep reading
            errors.append(f"reader {reader} {mode}: {type(exc).__name__}: {exc}")
        else:
            observation["at"] = time.time()
            observations.append(observation)
            if isinstance(observation["version_id"], str):
                seen[mode].add(observation["version_id"])
        if not announced and seen["duckdb"] and seen["parquet"]:
            ready.put(reader)
            announced = True
        if os.path.exists(stop_file):
            final = Path(stop_file).read_text(encoding="utf-8").strip()
            if final in seen["duckdb"] and final in seen["parquet"]:
                break
        time.sleep(pause_s)
    Path(out_file).write_text(json.dumps({"observations": observations, "errors": errors}), encoding="utf-8")
