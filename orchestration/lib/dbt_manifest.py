"""Keep dbt's manifest in step with the models: dagster-dbt builds the asset graph from it."""

from __future__ import annotations

from pathlib import Path

from orchestration.lib.paths import DBT_PROJECT_DIR


class DbtParseError(RuntimeError):
    """dbt could not parse the project."""


def parse_dbt_project(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Run `dbt parse` so target/manifest.json matches the models on disk; return its path."""
    from dbt.cli.main import dbtRunner  # dbt is slow to import; only the commands that need it pay

    result = dbtRunner().invoke(
        ["parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--quiet"]
    )
    if not result.success:
        raise DbtParseError(f"dbt parse failed in {project_dir}: {result.exception or 'see dbt log'}")
    return project_dir / "target" / "manifest.json"
