"""The BI snapshot (docs/bi.md): readers never fail and always see one whole version.

The main test runs 8 reader processes (tests/bi/snapshot_readers.py) that query the snapshot in
a loop — the DuckDB file read-only, and the Parquet files of one resolved `bi/current` — while
the writer publishes versions with different row counts: directly from small warehouses whose
marts are made here, and once through the real main job (both dbt selections and the
`bi/marts_snapshot` asset) on test_dbt_build's hand-made warehouse. A failed publish and a failed
build happen in between. Every read must match, mart by mart, the row counts of the one version
it claims, counted in that version's source warehouse before it was published.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.lib.bi_snapshot import (
    ENV_BI_DIR,
    SnapshotError,
    current_snapshot,
    publish_snapshot,
    sqlalchemy_url,
)
from tests.bi import snapshot_readers
from tests.dbt.test_dbt_build import W, _create_forecast, _create_raw

READERS = 8
READ_PAUSE_S = 0.2  # between two reads of one reader: 8 readers keep reading without starving the build
DIRECT_TABLES = ("dim_item", "fct_sell_through", "fct_stock_exposure")


def _direct_counts(n: int) -> dict[str, int]:
    """Row counts of the n-th hand-made version: every mart differs from every other version's."""
    return {"dim_item": 3 + n, "fct_sell_through": 20_000 * n + 7, "fct_stock_exposure": 5_000 * n + 11}


def _mart_warehouse(path: Path, counts: dict[str, int]) -> Path:
    """A warehouse with only schema marts: `counts[table]` rows in each table."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        for table, rows in counts.items():
            con.execute(
                f"create table marts.{table} as select i as row_id, 'row ' || i as label, i * 0.5 as amount "
                "from range(?) as t(i)",
                [rows],
            )
    return path


def _warehouse_counts(path: Path) -> dict[str, int]:
    """count(*) of every table in schema marts of a warehouse: what a version must hold."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' and table_type = 'BASE TABLE'"
            ).fetchall()
        ]
        return {table: con.execute(f"select count(*) from marts.{table}").fetchone()[0] for table in tables}


def _dbt_warehouse(path: Path) -> Path:
    """test_dbt_build's raw and forecast tables, ready for `dbt build`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        _create_raw(con)
        _create_forecast(con)
    return path


def _run_build_and_publish(warehouse: Path, bi_dir: Path, root: Path):
    """Both dbt selections and bi/marts_snapshot through the real main job, as `retailops run` runs them."""
    from dagster import DagsterInstance

    from orchestration.bi import bi_marts_snapshot
    from orchestration.dbt import dbt_after_forecast, dbt_before_forecast
    from orchestration.definitions import defs
    from orchestration.lib.paths import RunPaths
    from orchestration.writeback import export_writeback_defaults

    saved = dict(os.environ)
    try:
        export_writeback_defaults()
        RunPaths(root / "landing", warehouse, root / "outbound").export()
        os.environ[ENV_BI_DIR] = str(bi_dir)
        os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        keys = [*dbt_before_forecast.keys, *dbt_after_forecast.keys, *bi_marts_snapshot.keys]
        with DagsterInstance.ephemeral() as instance:
            return defs.resolve_job_def("retailops_main").execute_in_process(
                instance=instance, asset_selection=keys, raise_on_error=False
            )
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _snapshot_materializations(result) -> list:
    return [
        event
        for event in result.get_asset_materialization_events()
        if event.asset_key.path == ["bi", "marts_snapshot"]
    ]


def _write_atomically(path: Path, text: str) -> None:
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, path)


@pytest.mark.slow  # two dbt builds through Dagster with 8 readers running: minutes on 2 cores
def test_eight_readers_see_one_whole_version_during_builds_and_publishes(tmp_path: Path, dbt_manifest) -> None:
    bi_dir = tmp_path / "bi"
    expected: dict[str, dict[str, int]] = {}  # version id → row counts of its source warehouse
    published: list[str] = []

    def publish_direct(n: int) -> str:
        source = _mart_warehouse(tmp_path / f"marts_{n}.duckdb", _direct_counts(n))
        counts = _warehouse_counts(source)
        assert counts == _direct_counts(n)
        version = publish_snapshot(source, bi_dir)
        expected[version.version_id] = counts
        published.append(version.version_id)
        return version.version_id

    publish_direct(1)

    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    stop_file = tmp_path / "stop_after_version"
    readers = [
        context.Process(
            target=snapshot_readers.read_in_a_loop,
            args=(str(bi_dir), n, ready, str(stop_file), str(tmp_path / f"reader_{n}.json"), READ_PAUSE_S),
        )
        for n in range(READERS)
    ]
    for process in readers:
        process.start()
    try:
        started = set()
        while len(started) < READERS:
            started.add(ready.get(timeout=180))  # each reader read the first version both ways

        for n in (2, 3):
            publish_direct(n)
            time.sleep(0.5)

        # a publish that cannot complete: the current version stays, nothing half-built is left
        with pytest.raises(SnapshotError, match="marts.fct_not_built"):
            publish_snapshot(tmp_path / "marts_3.duckdb", bi_dir, tables=[*DIRECT_TABLES, "fct_not_built"])
        assert current_snapshot(bi_dir).version_id == published[-1]
        assert not list((bi_dir / "versions").glob(".building-*"))

        # a full build and publish through the real job
        built = _dbt_warehouse(tmp_path / "built" / "retail.duckdb")
        build_started = time.time()
        result = _run_build_and_publish(built, bi_dir, tmp_path / "built")
        builds = {"full build": (build_started, time.time())}
        assert result.success
        (event,) = _snapshot_materializations(result)
        version = current_snapshot(bi_dir)
        assert event.materialization.metadata["version_id"].value == version.version_id
        counts = _warehouse_counts(built)
        assert len(counts) == 12 and counts["fct_sell_through"] > 0  # every mart of the project
        assert version.row_counts == counts
        expected[version.version_id] = counts
        published.append(version.version_id)

        # a failed build: a restated sale without units fails staging's row test, so dbt fails,
        # the snapshot step is skipped and the version just published stays current
        broken = tmp_path / "broken" / "retail.duckdb"
        broken.parent.mkdir()
        shutil.copyfile(built, broken)
        with duckdb.connect(str(broken)) as con:
            con.execute(
                "insert into raw.pos__sales (business_date, location_id, item_id, units, net_sales, "
                "_file, _extract_date, _load_id, _loaded_at, _row_number) "
                "values (?, 'S1', 'I1', NULL, 60.00, 'restated.csv', ?, 'restated', ?, 2)",
                [W[3], date(2024, 3, 1), datetime(2024, 3, 1)],
            )
        build_started = time.time()
        failed = _run_build_and_publish(broken, bi_dir, tmp_path / "broken")
        builds["failed build"] = (build_started, time.time())
        assert not failed.success
        assert _snapshot_materializations(failed) == []
        failed_checks = [e.check_name for e in failed.get_asset_check_evaluations() if not e.passed]
        assert "stg_pos__sales_valid_rows" in failed_checks
        assert current_snapshot(bi_dir).version_id == published[-1]

        final = publish_direct(5)
        _write_atomically(stop_file, final)
        for process in readers:
            process.join(timeout=300)
    finally:
        for process in readers:
            if process.is_alive():
                process.terminate()
                process.join()
    assert [process.exitcode for process in readers] == [0] * READERS

    order = {version_id: position for position, version_id in enumerate(published)}
    seen_versions: set[str] = set()
    for n in range(READERS):
        outcome = json.loads((tmp_path / f"reader_{n}.json").read_text(encoding="utf-8"))
        assert outcome["errors"] == [], f"reader {n}"
        observations = outcome["observations"]
        assert len(observations) >= 4
        for observation in observations:
            version_id = observation["version_id"]
            assert version_id in expected, f"reader {n} saw {version_id}, which was never published"
            # the rows actually read, mart by mart, are exactly that version's: never a mix
            assert observation["counts"] == expected[version_id], (n, observation)
            assert observation["manifest_counts"] == expected[version_id], (n, observation)
            seen_versions.add(version_id)
        for mode in ("duckdb", "parquet"):
            positions = [order[o["version_id"]] for o in observations if o["mode"] == mode]
            assert positions == sorted(positions), f"reader {n} went back to an older version ({mode})"
            assert positions[-1] == order[final]
        for build, (started, finished) in builds.items():
            assert any(started <= o["at"] <= finished for o in observations), f"reader {n} idle during the {build}"
    # the readers were really reading while versions changed
    assert len(seen_versions) >= 3 and published[0] in seen_versions


@pytest.fixture()
def two_versions(tmp_path: Path) -> tuple[Path, list]:
    bi_dir = tmp_path / "bi"
    versions = []
    for n in (1, 2):
        source = _mart_warehouse(tmp_path / f"marts_{n}.duckdb", _direct_counts(n))
        versions.append(publish_snapshot(source, bi_dir))
    return bi_dir, versions


def test_a_failure_while_copying_keeps_the_previous_version(two_versions, tmp_path: Path, monkeypatch) -> None:
    from orchestration.lib import bi_snapshot

    bi_dir, versions = two_versions
    before = (bi_dir / "retail_marts.duckdb").stat().st_ino

    def truncated(building: Path, row_counts: dict[str, int]) -> None:
        raise SnapshotError(f"{building}/parquet/dim_item.parquet holds 0 rows, expected {row_counts['dim_item']}")

    monkeypatch.setattr(bi_snapshot, "_check_parquet", truncated)
    source = _mart_warehouse(tmp_path / "marts_3.duckdb", _direct_counts(3))
    with pytest.raises(SnapshotError, match="holds 0 rows"):
        publish_snapshot(source, bi_dir)
    current = current_snapshot(bi_dir)
    assert current.version_id == versions[-1].version_id
    assert current.row_counts == _direct_counts(2)
    assert (bi_dir / "retail_marts.duckdb").stat().st_ino == before
    assert sorted(p.name for p in (bi_dir / "versions").iterdir()) == sorted(v.version_id for v in versions)


def test_bad_input_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    bi_dir = tmp_path / "bi"
    assert current_snapshot(bi_dir) is None
    with pytest.raises(SnapshotError, match="does not exist"):
        publish_snapshot(tmp_path / "missing.duckdb", bi_dir)
    with pytest.raises(ValueError, match="keep_versions must be at least 1"):
        publish_snapshot(tmp_path / "missing.duckdb", bi_dir, keep_versions=0)
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(SnapshotError, match="no table in schema marts"):
        publish_snapshot(empty, bi_dir)
    assert current_snapshot(bi_dir) is None


def test_old_versions_are_kept_for_two_more_publishes(tmp_path: Path) -> None:
    bi_dir = tmp_path / "bi"
    versions = []
    held = None
    try:
        for n in range(1, 5):
            source = _mart_warehouse(tmp_path / f"marts_{n}.duckdb", _direct_counts(n))
            versions.append(publish_snapshot(source, bi_dir).version_id)
            if n == 1:  # a BI session that stays open across the next publishes
                held = duckdb.connect(str(bi_dir / "retail_marts.duckdb"), read_only=True)
        kept = sorted(p.name for p in (bi_dir / "versions").iterdir())
        assert kept == sorted(versions[1:])  # the first one went with the fourth publish
        assert current_snapshot(bi_dir).version_id == versions[-1]
        assert os.path.realpath(bi_dir / "current") == str((bi_dir / "versions" / versions[-1]).resolve())
        # its folder is gone, but the open connection still reads the first version, whole
        rows = held.execute("select count(*) from marts.fct_sell_through").fetchone()[0]
        assert rows == _direct_counts(1)["fct_sell_through"]
        assert held.execute("select distinct version_id from main.snapshot_manifest").fetchone()[0] == versions[0]
    finally:
        if held is not None:
            held.close()


def test_the_sqlalchemy_url_reads_and_refuses_writes(two_versions) -> None:
    bi_dir, versions = two_versions
    url = sqlalchemy_url(bi_dir)
    assert url == f"duckdb:///{(bi_dir / 'retail_marts.duckdb').resolve()}?access_mode=read_only"
    assert url.startswith("duckdb:////")  # four slashes: an absolute path, as docs/bi.md says
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            rows = con.execute(sa.text("select count(*) from marts.fct_sell_through")).scalar_one()
            assert rows == _direct_counts(2)["fct_sell_through"]
            version = con.execute(sa.text("select distinct version_id from main.snapshot_manifest")).scalar_one()
            assert version == versions[-1].version_id
        for statement in (
            "insert into marts.dim_item values (99, 'written', 0)",
            "create table marts.written_by_bi (a integer)",
            "delete from marts.fct_sell_through",
        ):
            with engine.connect() as con, pytest.raises(sa.exc.DBAPIError, match="read-only"):
                con.execute(sa.text(statement))
    finally:
        engine.dispose()
    assert _warehouse_counts(bi_dir / "retail_marts.duckdb") == _direct_counts(2)


def test_a_reader_process_reads_one_version_both_ways(two_versions) -> None:
    # the readers' own helpers, on a quiet snapshot: what they report is what was published
    bi_dir, versions = two_versions
    for read in (snapshot_readers.read_duckdb, snapshot_readers.read_parquet):
        observation = read(bi_dir)
        assert observation["version_id"] == versions[-1].version_id
        assert observation["counts"] == observation["manifest_counts"] == _direct_counts(2)

