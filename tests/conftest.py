"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """dbt_project/target/manifest.json, parsed from the models on disk.

    dagster-dbt builds the dbt assets from the manifest when `orchestration.dbt` is imported; the
    CLI parses first (`retailops run`/`ui`), and tests that load the definitions use this fixture
    so they work on a fresh clone, where no manifest exists yet.
    """
    from orchestration.lib.dbt_manifest import parse_dbt_project

    return parse_dbt_project()

