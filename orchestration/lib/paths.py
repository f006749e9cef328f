"""Project paths and the environment variables that configure a run (read when called, never at import)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SEEDS_DIR = PROJECT_ROOT / "seeds"

ENV_LANDING = "RETAILOPS_LANDING_DIR"
ENV_WAREHOUSE = "RETAILOPS_WAREHOUSE"
ENV_OUTBOUND = "RETAILOPS_OUTBOUND_DIR"
ENV_WORKERS = "RETAILOPS_FORECAST_WORKERS"


@dataclass(frozen=True)
class RunPaths:
    """Where a run reads landing extracts, keeps its warehouse and writes ERP files."""

    landing_dir: Path
    warehouse: Path
    outbound_dir: Path

    @classmethod
    def from_env(cls) -> RunPaths:
        """The embedded default (seeds → warehouse/retail.duckdb → outbound/) unless overridden."""
        return cls(
            landing_dir=Path(os.environ.get(ENV_LANDING, SEEDS_DIR)).resolve(),
            warehouse=Path(os.environ.get(ENV_WAREHOUSE, PROJECT_ROOT / "warehouse" / "retail.duckdb")).resolve(),
            outbound_dir=Path(os.environ.get(ENV_OUTBOUND, PROJECT_ROOT / "outbound")).resolve(),
        )

    def export(self) -> None:
        """Set the environment so Dagster resources and dbt's profiles.yml see these paths."""
        os.environ[ENV_LANDING] = str(self.landing_dir)
        os.environ[ENV_WAREHOUSE] = str(self.warehouse)
        os.environ[ENV_OUTBOUND] = str(self.outbound_dir)


def dbt_executable() -> str:
    """The dbt installed beside this Python (the project's .venv), whether or not it is on PATH."""
    return str(Path(sys.executable).with_name("dbt"))
