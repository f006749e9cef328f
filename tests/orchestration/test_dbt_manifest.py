"""Parsing the dbt project from several processes at once never exposes a half-written manifest."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest

from orchestration.lib.dbt_manifest import DbtParseError, parse_dbt_project
from orchestration.lib.paths import DBT_PROJECT_DIR


def _copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return project


def _parse(project: str) -> str:
    return str(parse_dbt_project(Path(project)))


def _read_manifests(path: str, stop: str) -> int:
    """Read the manifest in a loop until `stop` exists; every read must be whole JSON."""
    reads = 0
    while not Path(stop).exists():
        if Path(path).exists():
            json.loads(Path(path).read_text(encoding="utf-8"))  # raises on a partial file
            reads += 1
    return reads


@pytest.mark.slow
def test_concurrent_parses_publish_whole_manifests(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    manifest = parse_dbt_project(project)  # a first manifest to read from the start
    # change a model so the next parses really rewrite the manifest
    model = project / "models" / "marts" / "dim_location.sql"
    model.write_text(model.read_text(encoding="utf-8") + "\n-- changed\n", encoding="utf-8")
    stop = tmp_path / "stop"
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        reader = pool.apply_async(_read_manifests, (str(manifest), str(stop)))
        parses = [pool.apply_async(_parse, (str(project),)) for _ in range(2)]
        results = [p.get(timeout=300) for p in parses]
        stop.touch()
        assert reader.get(timeout=60) > 0
    assert results == [str(manifest)] * 2
    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
    assert "-- changed" in nodes["model.retailops.dim_location"]["raw_code"]
    assert not list((project / "target").glob(".parse-*"))  # no private folder left behind


def test_a_broken_project_leaves_the_previous_manifest(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    manifest = parse_dbt_project(project)
    before = manifest.read_bytes()
    (project / "models" / "marts" / "broken.sql").write_text("select * from {{ ref('no_such_model') }}\n")
    with pytest.raises(DbtParseError, match="parse failed"):
        parse_dbt_project(project)
    assert manifest.read_bytes() == before
    assert not list((project / "target").glob(".parse-*"))
