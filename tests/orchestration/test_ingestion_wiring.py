"""Ingestion wiring: the landing sensor's arrivals and cursor, the partition range a run covers, the checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ingestion.contract import ENTITIES
from orchestration.lib.landing_watch import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    landing_arrivals,
    partition_range_tags,
)
from tests.ingestion.conftest import EARLIER_SALES, ITEMS_CSV, LOCATIONS_CSV, write

# Loading the Dagster definitions needs the dbt manifest (parsed once per session).
pytestmark = pytest.mark.usefixtures("dbt_manifest")


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    write(root / "erp" / "items" / "2024-01-01" / "items.csv", ITEMS_CSV)
    write(root / "erp" / "locations" / "2024-01-01" / "locations.csv", LOCATIONS_CSV)
    return root


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_sensor_sees_new_files_once_and_waits_for_them_to_settle(landing: Path) -> None:
    for path in landing.rglob("*.csv"):
        _age(path, 600)
    first = landing_arrivals(landing, None, time.time(), settle_seconds=30)
    assert first.ready and first.new_extract_dates == ["2024-01-01"]
    assert sorted(first.new_files) == ["erp/items/2024-01-01/items.csv", "erp/locations/2024-01-01/locations.csv"]
    # Nothing new since: no run.
    again = landing_arrivals(landing, first.cursor, time.time(), settle_seconds=30)
    assert again.new_files == [] and not again.ready
    # A file still being written under its final name: seen, but the cursor waits for it.
    fresh = write(landing / "pos" / "sales" / "2024-01-03" / "sales.csv", EARLIER_SALES)
    waiting = landing_arrivals(landing, first.cursor, time.time(), settle_seconds=30)
    assert waiting.settling == ["pos/sales/2024-01-03/sales.csv"] and not waiting.ready
    assert waiting.cursor == first.cursor
    # Written under a temporary name: not even seen.
    write(landing / "pos" / "sales" / "2024-01-04" / "sales.csv.part", EARLIER_SALES)
    _age(fresh, 600)
    ready = landing_arrivals(landing, first.cursor, time.time(), settle_seconds=30)
    assert ready.ready and ready.new_files == ["pos/sales/2024-01-03/sales.csv"]
    assert ready.new_extract_dates == ["2024-01-03"]
    assert ready.run_key == landing_arrivals(landing, first.cursor, time.time(), 30).run_key
    assert json.loads(ready.cursor)["files_at_ctime"] == ["pos/sales/2024-01-03/sales.csv"]


def test_a_copy_keeping_an_old_modification_time_is_still_new(landing: Path) -> None:
    for path in landing.rglob("*.csv"):
        _age(path, 600)
    seen = landing_arrivals(landing, None, time.time(), settle_seconds=0)
    copied = write(landing / "pos" / "sales" / "2024-01-03" / "sales.csv", EARLIER_SALES)
    _age(copied, 86_400)  # like `cp -p`: the modification time is a day old, the change time is now
    assert landing_arrivals(landing, seen.cursor, time.time(), settle_seconds=30).new_files == [
        "pos/sales/2024-01-03/sales.csv"
    ]


def test_partition_range_tags_cover_first_to_last() -> None:
    assert partition_range_tags([]) == {}
    assert partition_range_tags(["2024-01-03", "2024-01-01", "2024-01-10"]) == {
        PARTITION_RANGE_START_TAG: "2024-01-03", PARTITION_RANGE_END_TAG: "2024-01-10"
    }


def test_run_covers_only_dates_with_unregistered_files(landing: Path, tmp_path: Path) -> None:
    from dagster import DagsterInstance

    from ingestion.loader import load_entity
    from orchestration.ingestion import EXTRACT_DATES, register_extract_dates

    write(landing / "pos" / "sales" / "2024-01-03" / "sales.csv", EARLIER_SALES)
    write(landing / "pos" / "sales" / "2024-01-10" / "sales.csv", EARLIER_SALES.replace("2024-01-02", "2024-01-09"))
    warehouse = tmp_path / "w.duckdb"
    with DagsterInstance.ephemeral() as instance:
        assert register_extract_dates(instance, landing, warehouse) == {
            PARTITION_RANGE_START_TAG: "2024-01-01", PARTITION_RANGE_END_TAG: "2024-01-10"
        }
        assert instance.get_dynamic_partitions(EXTRACT_DATES) == ["2024-01-01", "2024-01-03", "2024-01-10"]
        with duckdb.connect(str(warehouse)) as con:
            for entity in ENTITIES:
                load_entity(con, landing, entity, "first", ["2024-01-01", "2024-01-03"])
        # Only 2024-01-10 is new for this warehouse.
        assert register_extract_dates(instance, landing, warehouse) == {
            PARTITION_RANGE_START_TAG: "2024-01-10", PARTITION_RANGE_END_TAG: "2024-01-10"
        }
        with duckdb.connect(str(warehouse)) as con:
            load_entity(con, landing, ENTITIES[4], "second")
        assert register_extract_dates(instance, landing, warehouse) == {}


def test_every_raw_asset_has_its_conservation_and_expectation_checks() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    for entity in ENTITIES:
        for name in ("rows_conserved", "expectations_critical", "expectations_warnings"):
            assert (f"raw/{entity.name}", name) in checks
    blocking = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys
                if graph.get_check_spec(k).blocking}
    assert ("raw/pos__sales", "expectations_critical") in blocking
    assert ("raw/pos__sales", "rows_conserved") in blocking
    assert ("raw/pos__sales", "expectations_warnings") not in blocking


def test_sensor_asks_for_one_main_job_run_over_the_new_partitions(landing: Path) -> None:
    from dagster import DagsterInstance, SkipReason, build_sensor_context

    from orchestration.ingestion import landing_sensor
    from orchestration.resources import RunFolders, WarehouseResource

    for path in landing.rglob("*.csv"):
        _age(path, 600)
    resources = {
        "folders": RunFolders(landing_dir=str(landing), outbound_dir=str(landing.parent / "out")),
        "warehouse": WarehouseResource(path=str(landing.parent / "not_built_yet.duckdb")),
    }
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources=resources)
        result = landing_sensor(context)
        assert [r.job_name for r in result.run_requests] == ["retailops_main"]
        assert result.run_requests[0].tags[PARTITION_RANGE_START_TAG] == "2024-01-01"
        assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["2024-01-01"]]
        context = build_sensor_context(instance=instance, resources=resources, cursor=result.cursor)
        assert isinstance(landing_sensor(context), SkipReason)


def test_sensor_starts_nothing_for_files_the_warehouse_has_loaded(landing: Path) -> None:
    """`make run` then `make ui`: the sensor's first look finds every file registered, and runs nothing."""
    from dagster import DagsterInstance, build_sensor_context

    from ingestion.loader import load_entity
    from orchestration.ingestion import landing_sensor
    from orchestration.resources import RunFolders, WarehouseResource

    for path in landing.rglob("*.csv"):
        _age(path, 600)
    warehouse = landing.parent / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        for entity in ENTITIES:
            if entity.path in ("erp/items", "erp/locations"):
                load_entity(con, landing, entity, "earlier-run", None)
    resources = {
        "folders": RunFolders(landing_dir=str(landing), outbound_dir=str(landing.parent / "out")),
        "warehouse": WarehouseResource(path=str(warehouse)),
    }
    with DagsterInstance.ephemeral() as instance:
        result = landing_sensor(build_sensor_context(instance=instance, resources=resources))
        assert not result.run_requests and "2 new files, all loaded already" in result.skip_reason.skip_message
        assert result.cursor  # the files count as seen
        fresh = write(landing / "pos" / "sales" / "2024-01-03" / "sales.csv", EARLIER_SALES)
        _age(fresh, 600)
        later = landing_sensor(build_sensor_context(instance=instance, resources=resources, cursor=result.cursor))
        assert [r.job_name for r in later.run_requests] == ["retailops_main"]
        # While a run writes the warehouse the sensor waits, its cursor unmoved.
        with duckdb.connect(str(warehouse)):
            code = ("import sys, time\nfrom dagster import DagsterInstance, build_sensor_context\n"
                    "from orchestration.ingestion import landing_sensor\n"
                    "from orchestration.resources import RunFolders, WarehouseResource\n"
                    "res = {'folders': RunFolders(landing_dir=sys.argv[1], outbound_dir=sys.argv[1]),\n"
                    "       'warehouse': WarehouseResource(path=sys.argv[2])}\n"
                    "with DagsterInstance.ephemeral() as i:\n"
                    "    print(landing_sensor(build_sensor_context(instance=i, resources=res, cursor=sys.argv[3])))\n")
            out = subprocess.run([sys.executable, "-c", code, str(landing), str(warehouse), result.cursor],
                                 capture_output=True, text=True, check=True)
        assert "the warehouse is being written" in out.stdout


def test_cli_adapts_freshretailnet(tmp_path: Path, capsys) -> None:
    from orchestration.cli import build_parser, main

    args = build_parser().parse_args(["adapt", "freshretailnet", "--source", "a", "--out", "b"])
    assert args.dataset == "freshretailnet"
    (tmp_path / "empty").mkdir()
    assert main(["adapt", "freshretailnet", "--source", str(tmp_path / "empty"), "--out", str(tmp_path / "l")]) == 2
    assert "frn50k_train_daily.parquet: missing" in capsys.readouterr().err
