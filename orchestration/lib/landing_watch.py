"""What the landing sensor sees: files that arrived since its last look, and when they are ready.

Pure functions over the landing folder and a JSON cursor, unit-tested without Dagster. A file
counts as arrived when its inode change time (ctime) is newer than the cursor: renaming or copying
a file into the folder sets it, even when the copy keeps an old modification time. A run is only
asked for once every new file has been unchanged for `settle_seconds` (a writer still appending
to a file under its final name gets that long to finish); until then the cursor does not move.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.loader import scan_landing

PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class LandingArrivals:
    """New files since the cursor: the extract dates they bring, whether to run now, the next cursor."""

    new_files: list[str] = field(default_factory=list)
    new_extract_dates: list[str] = field(default_factory=list)
    settling: list[str] = field(default_factory=list)
    cursor: str | None = None

    @property
    def ready(self) -> bool:
        return bool(self.new_files) and not self.settling

    @property
    def run_key(self) -> str:
        """The same arrivals always ask for the same run (Dagster starts a run key once)."""
        return "landing-" + hashlib.sha256("\n".join(sorted(self.new_files)).encode()).hexdigest()[:16]


def _read_cursor(cursor: str | None) -> tuple[int, set[str]]:
    if not cursor:
        return -1, set()
    document = json.loads(cursor)
    return int(document["ctime_ns"]), set(document["files_at_ctime"])


def landing_arrivals(landing_dir: Path, cursor: str | None, now: float, settle_seconds: float) -> LandingArrivals:
    """Files (extracts and misplaced ones, not files still being written) newer than the cursor."""
    last_ctime, seen_at_last = _read_cursor(cursor)
    scan = scan_landing(landing_dir)
    arrivals = LandingArrivals(cursor=cursor)
    newest = last_ctime
    newest_files: set[str] = set(seen_at_last)
    dates: set[str] = set()
    for landed in [*scan.extracts, *scan.misplaced]:
        stat = landed.path.stat()
        if stat.st_ctime_ns < last_ctime or (stat.st_ctime_ns == last_ctime and landed.relative_path in seen_at_last):
            continue
        arrivals.new_files.append(landed.relative_path)
        if landed.extract_date is not None and landed.misplaced is None:
            dates.add(landed.extract_date.isoformat())
        if now - stat.st_mtime < settle_seconds:
            arrivals.settling.append(landed.relative_path)
        if stat.st_ctime_ns > newest:
            newest, newest_files = stat.st_ctime_ns, {landed.relative_path}
        elif stat.st_ctime_ns == newest:
            newest_files.add(landed.relative_path)
    arrivals.new_extract_dates = sorted(dates)
    if arrivals.ready:
        arrivals.cursor = json.dumps({"ctime_ns": newest, "files_at_ctime": sorted(newest_files)})
    return arrivals


def partition_range_tags(partition_keys: list[str]) -> dict[str, str]:
    """Run tags that make one run cover every extract-date partition (the loader skips files already loaded)."""
    if not partition_keys:
        return {}
    return {PARTITION_RANGE_START_TAG: partition_keys[0], PARTITION_RANGE_END_TAG: partition_keys[-1]}
