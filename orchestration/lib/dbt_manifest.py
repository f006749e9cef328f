"""Keep dbt's manifest in step with the models: dagster-dbt builds the asset graph from it."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from orchestration.lib.paths import DBT_PROJECT_DIR

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# Published in this order: the manifest last, so a reader that sees the new manifest finds the
# partial-parse file that belongs to it.
PARSE_OUTPUTS = (PARTIAL_PARSE_FILE, "semantic_manifest.json", "manifest.json")


class DbtParseError(RuntimeError):
    """dbt could not parse the project."""


def parse_dbt_project(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Run `dbt parse` so target/manifest.json matches the models on disk; return its path.

    `retailops run`, `retailops ui` and test processes may parse at the same time, and each loads
    the manifest: parses take turns (a lock file), dbt writes into a private folder, and the
    results replace target/'s files by atomic renames, so no one ever reads a half-written manifest.
    """
    from dbt.cli.main import dbtRunner  # dbt is slow to import; only the commands that need it pay

    target = project_dir / "target"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        private = Path(tempfile.mkdtemp(prefix=".parse-", dir=target))
        try:
            if (target / PARTIAL_PARSE_FILE).exists():  # start from the last parse: dbt re-reads only what changed
                shutil.copy2(target / PARTIAL_PARSE_FILE, private / PARTIAL_PARSE_FILE)
            result = dbtRunner().invoke(
                ["parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
                 "--target-path", str(private), "--quiet"]
            )
            if not result.success:
                raise DbtParseError(f"dbt parse failed in {project_dir}: {result.exception or 'see dbt log'}")
            for name in PARSE_OUTPUTS:
                if (private / name).exists():
                    os.replace(private / name, target / name)
        finally:
            shutil.rmtree(private, ignore_errors=True)
    return target / "manifest.json"
