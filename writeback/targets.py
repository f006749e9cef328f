"""The two places a batch can go — files for ERP import, or ERP staging tables in PostgreSQL — behind
one small interface: `destination` names it (no credentials) and `deliver` writes a batch exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Protocol

import pandas as pd

from writeback.changes import FAMILIES, FAMILY_OF, REPLENISHMENT_TYPES, UPLIFT_TYPE
from writeback.files import verify_manifest, write_files
from writeback.settings import WritebackError, WritebackSettings
from writeback.state import Batch

FILE_VALUE_FORMAT = "%.10g"


class WritebackTargetError(WritebackError, RuntimeError):
    """The target refused or failed a batch; the message never contains credentials."""


@dataclass(frozen=True)
class Delivery:
    """What a target did with a batch."""

    batch_id: str
    already_written: bool
    rows: int
    paths: tuple[str, ...] = ()


class Target(Protocol):
    kind: str
    destination: str

    def deliver(self, batch: Batch) -> Delivery: ...


def family_frames(batch: Batch) -> dict[str, pd.DataFrame]:
    """The batch as one frame per family, in the columns the ERP import files carry.

    Replenishment: one row per item × location × effective date with a column per target type;
    an empty cell means that target is not part of this batch (held for review, or unchanged).
    Uplift: one row per promotion × item × location, effective_date = the promotion's start.
    """
    by_family: dict[str, list] = {family: [] for family in FAMILIES}
    for write in batch.writes:
        by_family[FAMILY_OF[write.key[2]]].append(write)
    frames: dict[str, pd.DataFrame] = {}
    if by_family["replenishment_targets"]:
        rows: dict[tuple, dict] = {}
        for write in by_family["replenishment_targets"]:
            item_id, location_id, target_type, effective_date = write.key
            row = rows.setdefault((item_id, location_id, effective_date), {
                "item_id": item_id, "location_id": location_id, "effective_date": effective_date,
                **{t: None for t in REPLENISHMENT_TYPES}, "model_versions": set(),
            })
            row[target_type] = write.value
            if write.model_version:
                row["model_versions"].add(write.model_version)
        frame = pd.DataFrame([rows[k] for k in sorted(rows)])
        frame["model_version"] = [", ".join(sorted(v)) for v in frame.pop("model_versions")]
        for target_type in REPLENISHMENT_TYPES:
            frame[target_type] = frame[target_type].astype("float64")
        frames["replenishment_targets"] = frame
    if by_family["promotion_uplift"]:
        frame = pd.DataFrame([
            {"promotion_id": w.promotion_id, "item_id": w.key[0], "location_id": w.key[1], "effective_date": w.key[3],
             "end_date": w.end_date, UPLIFT_TYPE: w.value, "model_version": w.model_version}
            for w in sorted(by_family["promotion_uplift"], key=lambda w: (w.key, w.promotion_id or ""))
        ])
        frame[UPLIFT_TYPE] = frame[UPLIFT_TYPE].astype("float64")
        frames["promotion_uplift"] = frame
    return frames


class FileTarget:
    """CSV per batch and family in the outbound folder, manifest last (see writeback.files)."""

    kind = "files"

    def __init__(self, outbound_dir: Path) -> None:
        self.outbound_dir = Path(outbound_dir).resolve()
        self.destination = f"files:{self.outbound_dir}"

    def deliver(self, batch: Batch) -> Delivery:
        from writeback.files import frame_to_csv_bytes

        record = batch.record
        frames = family_frames(batch)
        contents = {family: frame_to_csv_bytes(frame, FILE_VALUE_FORMAT) for family, frame in frames.items()}
        result = write_files(
            self.outbound_dir, record.batch_id, contents, {family: len(f) for family, f in frames.items()},
            {
                "model_version": record.model_version,
                "run_id": record.run_id,
                "origin": record.origin,
                "rolls_back": record.rolls_back,
                "business_key": ["item_id", "location_id", "target_type", "effective_date"],
                "values": "absolute",
            },
            # Microseconds, UTC: an importer applies batches in created_at order.
            created_at=record.created_at.replace(tzinfo=UTC).isoformat(timespec="microseconds"),
        )
        problems = verify_manifest(result.manifest)
        if problems:
            raise WritebackTargetError(f"batch {record.batch_id} failed its check: {'; '.join(problems)}")
        paths = (str(result.manifest), *(str(self.outbound_dir / f.name) for f in result.files))
        return Delivery(record.batch_id, result.already_written, record.row_count, paths)


@contextmanager
def open_target(settings: WritebackSettings) -> Iterator[Target]:
    """The configured target, connected; closed on exit."""
    if settings.target == "files":
        yield FileTarget(settings.outbound_dir)
        return
    from writeback.postgres import PostgresTarget

    target = PostgresTarget(settings.dsn, settings.erp_schema)
    try:
        yield target
    finally:
        target.close()
