"""The file target: CSV files for ERP import plus a manifest, each written atomically.

`write_batch` names a batch by the sha256 of its content, so writing the same targets twice
produces the same batch and changes nothing; `write_files` writes a batch whose id the caller
chose (the scheduled writeback's id, from content and run). The manifest is written last: an
importer that waits for the manifest never sees a batch that is incomplete, and every file is
renamed into place whole, so a reader never sees a partial file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from writeback.settings import pause_point

MANIFEST_PREFIX = "manifest_"


@dataclass(frozen=True)
class OutboundFile:
    target_type: str
    name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    manifest: Path
    files: tuple[OutboundFile, ...]
    already_written: bool


def frame_to_csv_bytes(frame: pd.DataFrame, float_format: str = "%.6g") -> bytes:
    """The exact bytes of a target file: UTF-8 CSV, header row, ISO dates, '\\n' line ends."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n", date_format="%Y-%m-%d", float_format=float_format)
    return buffer.getvalue().encode("utf-8")


def atomic_write_bytes(path: Path, content: bytes) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    # The rename itself must survive a crash too: flush the folder entry.
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_batch(outbound_dir: Path, targets: dict[str, pd.DataFrame], model_version: str) -> BatchResult:
    """Write one batch of target files and its manifest; a batch already present is left as it is."""
    contents = {target_type: frame_to_csv_bytes(frame) for target_type, frame in sorted(targets.items())}
    batch_digest = hashlib.sha256(model_version.encode())
    for target_type, content in contents.items():
        batch_digest.update(target_type.encode())
        batch_digest.update(hashlib.sha256(content).digest())
    batch_id = batch_digest.hexdigest()[:16]
    row_counts = {target_type: len(frame) for target_type, frame in targets.items()}
    return write_files(outbound_dir, batch_id, contents, row_counts, {"model_version": model_version})


def write_files(
    outbound_dir: Path, batch_id: str, contents: dict[str, bytes], row_counts: dict[str, int],
    manifest_fields: dict, created_at: str | None = None,
) -> BatchResult:
    """Write `<target_type>_<batch_id>.csv` per entry, then `manifest_<batch_id>.json` last.

    A batch whose manifest already agrees with its files is left untouched (`already_written`);
    a batch interrupted before its manifest is rewritten whole.
    """
    outbound_dir.mkdir(parents=True, exist_ok=True)
    contents = dict(sorted(contents.items()))
    manifest_path = outbound_dir / f"{MANIFEST_PREFIX}{batch_id}.json"
    files = tuple(
        OutboundFile(target_type, f"{target_type}_{batch_id}.csv", row_counts[target_type],
                     hashlib.sha256(content).hexdigest())
        for target_type, content in contents.items()
    )
    if manifest_path.exists() and verify_manifest(manifest_path) == []:
        return BatchResult(batch_id, manifest_path, files, already_written=True)
    for number, (file, content) in enumerate(zip(files, contents.values(), strict=True)):
        if number == 1:
            pause_point("mid_batch")  # the kill tests stop here: one file in place, no manifest yet
        atomic_write_bytes(outbound_dir / file.name, content)
    manifest = {
        "batch_id": batch_id,
        **manifest_fields,
        "created_at": created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "row_count": sum(f.rows for f in files),  # the batch's data rows, all files together
        "files": [
            {"target_type": f.target_type, "file": f.name, "row_count": f.rows, "sha256": f.sha256}
            for f in files
        ],
    }
    if len(files) == 1:
        pause_point("mid_batch")
    atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    return BatchResult(batch_id, manifest_path, files, already_written=False)


def verify_manifest(manifest_path: Path) -> list[str]:
    """Problems found checking a batch's files against its manifest (empty when the batch is whole).

    Each listed file must exist with the sha256 and number of data rows the manifest gives it, and the
    batch's `row_count` must be the sum of the files' counts.
    """
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    problems = []
    listed = sum(entry["row_count"] for entry in manifest["files"])
    if "row_count" not in manifest:
        problems.append(f"{manifest_path.name}: no batch row_count (the files list {listed} rows)")
    elif manifest["row_count"] != listed:
        problems.append(f"{manifest_path.name}: row_count {manifest['row_count']}, but its files list {listed} rows")
    for entry in manifest["files"]:
        path = manifest_path.parent / entry["file"]
        if not path.exists():
            problems.append(f"{path}: listed in {manifest_path.name} but missing")
            continue
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != entry["sha256"]:
            problems.append(f"{path}: sha256 differs from {manifest_path.name}")
        data_lines = content.count(b"\n") - 1
        if data_lines != entry["row_count"]:
            problems.append(f"{path}: {data_lines} rows, manifest says {entry['row_count']}")
    return problems
