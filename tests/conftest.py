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



# The modules that take minutes, longest first. `make test` runs two workers, each taking whole
# modules in collection order: starting these first keeps one from running alone at the end.
SLOW_MODULES_FIRST = (
    "tests/orchestration/test_pipeline.py",
    "tests/dbt/test_marts_recompute.py",
    "tests/ui/test_browser.py",
    "tests/bi/test_bi_snapshot.py",
    "tests/orchestration/test_daemon.py",
    "tests/ingestion/test_real_data_ingestion.py",
    "tests/orchestration/test_ui.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {module: position for position, module in enumerate(SLOW_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: others keep their order
