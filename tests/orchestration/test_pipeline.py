"""The whole pipeline on the committed seeds, in a temporary warehouse, checked independently.

Mart values are recomputed with pandas straight from the landing CSV files; the forecast's uplift
is compared with the generator's built-in truth; the ERP files are compared with forecast.*.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ingestion.generator import SeedSpec, expected_weekly_units
from orchestration.cli import run_pipeline
from orchestration.lib.paths import SEEDS_DIR, RunPaths
from writeback.files import verify_manifest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]


def _read_entity(landing: Path, entity_path: str) -> pd.DataFrame:
    files = sorted((landing / entity_path).glob("*/*.csv"))
    ids = {"item_id": str, "location_id": str, "promotion_id": str}
    return pd.concat([pd.read_csv(f, dtype=ids) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def seeded_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("pipeline")
    saved = dict(os.environ)
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    (root / "dagster_home").mkdir()
    paths = RunPaths(SEEDS_DIR, root / "warehouse" / "retail.duckdb", root / "outbound")
    try:
        summary = run_pipeline(paths)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    yield paths, summary, con
    con.close()


def test_summary_counts_match_the_warehouse(seeded_run) -> None:
    paths, summary, con = seeded_run
    # 4 stores × 12 items × 78 weeks of sales, all with a snapshot.
    assert summary.mart_rows["marts.fct_sell_through"] == 4 * 12 * 78
    assert summary.series_fitted + summary.series_fallen_back == 4 * 12
    assert con.execute("select count(*) from forecast.series_fit_log").fetchone()[0] == 48
    assert not list(paths.warehouse.parent.glob(".*.building"))


def test_the_run_is_recorded_in_the_installed_instance_with_table_metadata(seeded_run) -> None:
    """`retailops run` records its runs in $DAGSTER_HOME's instance (the one the UI reads), with the
    row counts, columns as built and key figures the asset catalog shows."""
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus
    from dagster._core.run_coordinator import QueuedRunCoordinator

    paths, _, con = seeded_run
    home = paths.warehouse.parent.parent / "dagster_home"
    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)  # the project's dagster.yaml
        runs = sorted((run.job_name, run.status) for run in instance.get_runs())
        assert runs == [("retailops_main", DagsterRunStatus.SUCCESS), ("retailops_writeback", DagsterRunStatus.SUCCESS)]

        def metadata(*key: str) -> dict:
            event = instance.get_latest_materialization_event(AssetKey(list(key)))
            return {name: value.value for name, value in event.asset_materialization.metadata.items()}

        def one(sql: str):
            return con.execute(sql).fetchone()[0]

        summary = metadata("marts", "fct_promotion_summary")
        assert summary["dagster/row_count"] == one("select count(*) from marts.fct_promotion_summary")
        # The summary's key figure against the sum over the per-line mart it rolls up.
        lines_margin = one("select sum(incremental_gross_margin) from marts.fct_promotion_profitability")
        assert summary["incremental_gross_margin"] == pytest.approx(float(lines_margin), abs=1e-3)
        # Columns as built: for a contracted mart, the contract's types in its order, with dbt's descriptions.
        from orchestration.definitions import defs

        declared = defs.resolve_asset_graph().get(AssetKey(["marts", "fct_promotion_summary"])).metadata
        declared = [(c.name, c.type, c.description) for c in declared["dagster/column_schema"].columns]
        built = [(c.name, c.type, c.description) for c in summary["dagster/column_schema"].columns]
        assert built == declared and ("roi", "double") in [(name, kind) for name, kind, _ in built]
        assert metadata("intermediate", "int_demand_weekly")["dagster/row_count"] == one(
            "select count(*) from intermediate.int_demand_weekly")
        staging_view = metadata("staging", "stg_erp__items")  # a view: columns, but not counted
        assert "dagster/row_count" not in staging_view
        # stg_pos__sales is an (incremental) table (decision 0008): counted. Its YAML declares no
        # types; the warehouse knows them.
        staging = metadata("staging", "stg_pos__sales")
        assert staging["dagster/row_count"] == one("select count(*) from staging.stg_pos__sales")
        assert {c.name: c.type for c in staging["dagster/column_schema"].columns}["business_date"] == "date"
        assert {c.name: c.type for c in staging_view["dagster/column_schema"].columns}["item_id"] == "varchar"
        assert 0 < metadata("forecast", "backtest_metrics")["model_promoted_wape"] < 1
        pool = instance.event_log_storage.get_concurrency_info("duckdb_writer")
        assert pool.slot_count == 1 and not pool.claimed_slots  # every step took and gave back the slot


def test_sell_through_matches_pandas_recomputation(seeded_run) -> None:
    _, _, con = seeded_run
    sales = _read_entity(SEEDS_DIR, "pos/sales")
    snapshots = _read_entity(SEEDS_DIR, "inventory/snapshots")
    items = _read_entity(SEEDS_DIR, "erp/items")
    expected = sales.merge(
        snapshots.rename(columns={"snapshot_date": "business_date"}),
        on=["business_date", "location_id", "item_id"],
    ).merge(items[["item_id", "unit_cost"]], on="item_id")
    # sold ÷ (sold + closing on-hand), measured only when the closing on-hand is known and ≥ 0
    # (a negative one is a bookkeeping lag: docs/marts.md)
    denominator = (expected["units"] + expected["on_hand_units"]).where(expected["on_hand_units"] >= 0)
    expected["rate"] = np.where(denominator > 0, expected["units"] / denominator.where(denominator > 0), np.nan)
    expected["margin"] = expected["net_sales"] - expected["units"] * expected["unit_cost"]
    expected["week_end_date"] = pd.to_datetime(expected["business_date"])

    mart = con.execute(
        "select item_id, location_id, week_end_date, units_sold, closing_on_hand_units, "
        "sell_through_rate, net_sales as mart_net_sales, gross_margin from marts.fct_sell_through"
    ).df()
    mart["week_end_date"] = pd.to_datetime(mart["week_end_date"])
    joined = expected.merge(mart, on=["item_id", "location_id", "week_end_date"], how="outer", indicator=True)
    assert (joined["_merge"] == "both").all()
    np.testing.assert_allclose(joined["units_sold"], joined["units"])
    np.testing.assert_allclose(joined["closing_on_hand_units"], joined["on_hand_units"])
    np.testing.assert_allclose(joined["sell_through_rate"].astype(float), joined["rate"], rtol=1e-9)
    np.testing.assert_allclose(joined["mart_net_sales"].astype(float), joined["net_sales"], rtol=1e-9)
    np.testing.assert_allclose(joined["gross_margin"].astype(float), joined["margin"], atol=1e-6)


def test_stock_exposure_matches_pandas_recomputation(seeded_run) -> None:
    _, _, con = seeded_run
    snapshots = _read_entity(SEEDS_DIR, "inventory/snapshots")
    items = _read_entity(SEEDS_DIR, "erp/items")
    expected = snapshots.merge(items[["item_id", "unit_cost", "regular_price"]], on="item_id")
    position = expected["on_hand_units"] + expected["in_transit_units"].fillna(0) + expected["on_order_units"].fillna(0)
    expected["position_at_cost"] = position * expected["unit_cost"]
    expected["retail_value"] = expected["on_hand_units"] * expected["regular_price"]
    expected["snapshot_date"] = pd.to_datetime(expected["snapshot_date"])
    mart = con.execute(
        "select item_id, location_id, snapshot_date, inventory_position_at_cost, on_hand_at_retail "
        "from marts.fct_stock_exposure"
    ).df()
    mart["snapshot_date"] = pd.to_datetime(mart["snapshot_date"])
    joined = expected.merge(mart, on=["item_id", "location_id", "snapshot_date"], validate="one_to_one")
    assert len(joined) == len(expected) == len(mart)
    np.testing.assert_allclose(joined["inventory_position_at_cost"].astype(float), joined["position_at_cost"])
    np.testing.assert_allclose(joined["on_hand_at_retail"].astype(float), joined["retail_value"])


def test_promotion_profitability_matches_pandas_recomputation(seeded_run) -> None:
    _, _, con = seeded_run
    promotions = _read_entity(SEEDS_DIR, "erp/promotions")
    promotions = promotions[promotions["approval_status"] == "approved"]
    sales = _read_entity(SEEDS_DIR, "pos/sales")
    items = _read_entity(SEEDS_DIR, "erp/items")[["item_id", "unit_cost", "regular_price"]]
    baseline = con.execute(
        "select item_id, location_id, week_end_date, baseline_units from forecast.demand_weekly where is_history"
    ).df()
    baseline["week_end_date"] = pd.to_datetime(baseline["week_end_date"]).dt.strftime("%Y-%m-%d")
    # Weekly sales are dated on the week-ending day: a promotion's weeks are those dated inside it.
    lines = promotions.merge(sales, on=["item_id", "location_id"])
    lines = lines[(lines["business_date"] >= lines["start_date"]) & (lines["business_date"] <= lines["end_date"])]
    lines = lines.merge(
        baseline.rename(columns={"week_end_date": "business_date"}), on=["item_id", "location_id", "business_date"]
    )
    expected = (
        lines.groupby(["promotion_id", "item_id", "location_id", "promo_price"], as_index=False)
        .agg(actual_units=("units", "sum"), net_sales=("net_sales", "sum"), baseline_units=("baseline_units", "sum"))
        .merge(items, on="item_id")
    )
    expected["discount_cost"] = expected["actual_units"] * (expected["regular_price"] - expected["promo_price"])
    expected["incremental_margin"] = (
        expected["net_sales"] - expected["actual_units"] * expected["unit_cost"]
        - expected["baseline_units"] * (expected["regular_price"] - expected["unit_cost"])
    )
    expected["roi"] = expected["incremental_margin"] / expected["discount_cost"]

    mart = con.execute(
        "select promotion_id, item_id, location_id, actual_units, baseline_units, incremental_units, "
        "discount_cost, incremental_gross_margin, roi, has_overlap from marts.fct_promotion_profitability"
    ).df()
    joined = expected.merge(mart, on=["promotion_id", "item_id", "location_id"], suffixes=("", "_mart"))
    assert len(joined) == len(mart) == len(expected) > 300
    assert not joined["has_overlap"].any()  # the generator never overlaps promotions
    np.testing.assert_allclose(joined["actual_units_mart"], joined["actual_units"])
    np.testing.assert_allclose(joined["baseline_units_mart"], joined["baseline_units"], rtol=1e-9)
    incremental = joined["actual_units"] - joined["baseline_units"]
    np.testing.assert_allclose(joined["incremental_units"], incremental, rtol=1e-9)
    np.testing.assert_allclose(joined["discount_cost_mart"].astype(float), joined["discount_cost"], atol=1e-6)
    np.testing.assert_allclose(joined["incremental_gross_margin"].astype(float), joined["incremental_margin"],
                               atol=1e-3)
    np.testing.assert_allclose(joined["roi_mart"].astype(float), joined["roi"], rtol=1e-6)


def test_forecast_recovers_the_generators_built_in_lift(seeded_run) -> None:
    _, _, con = seeded_run
    truth = expected_weekly_units(SeedSpec())
    truth = truth[truth["promotion_id"].notna()]
    truth["true_uplift"] = truth["expected_units"] - truth["baseline_units"]
    true_by_promotion = truth.groupby(["promotion_id", "item_id", "location_id"], as_index=False).agg(
        true_uplift=("true_uplift", "sum"), true_baseline=("baseline_units", "sum"), history=("is_history", "all")
    )
    fitted = con.execute(
        "select promotion_id, item_id, location_id, uplift_units, baseline_units from forecast.promotion_uplift"
    ).df()
    joined = true_by_promotion.merge(fitted, on=["promotion_id", "item_id", "location_id"])
    history = joined[joined["history"]]
    planned = joined[~joined["history"]]
    assert len(history) > 300 and len(planned) >= 20
    # Tolerance: 48 series × ~7 promotions; Poisson noise on ~40 units/week makes one promotion's
    # uplift uncertain by ±30%, but the total over all promotions must land within 10% of the truth.
    assert history["uplift_units"].sum() == pytest.approx(history["true_uplift"].sum(), rel=0.10)
    assert history["baseline_units"].sum() == pytest.approx(history["true_baseline"].sum(), rel=0.05)
    # Planned promotions lie in the horizon: the forecast must carry the lift forward (wider tolerance:
    # fewer promotions, and trend uncertainty past the history).
    assert planned["uplift_units"].sum() == pytest.approx(planned["true_uplift"].sum(), rel=0.20)


def test_writeback_files_agree_with_manifest_and_forecast(seeded_run) -> None:
    paths, summary, con = seeded_run
    manifests = list(paths.outbound_dir.glob("manifest_*.json"))
    assert len(manifests) == 1
    assert verify_manifest(manifests[0]) == []
    manifest = json.loads(manifests[0].read_text())
    files = {entry["target_type"]: entry for entry in manifest["files"]}
    for entry in files.values():
        content = (paths.outbound_dir / entry["file"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
    ids = {"item_id": str, "location_id": str, "promotion_id": str}
    targets = pd.read_csv(paths.outbound_dir / files["replenishment_targets"]["file"], dtype=ids)
    table = con.execute("select * from forecast.replenishment_targets").df()
    assert len(targets) == files["replenishment_targets"]["row_count"] == len(table) == 48
    joined = targets.merge(table, on=["item_id", "location_id"], suffixes=("_file", ""))
    np.testing.assert_allclose(joined["order_up_to_units_file"], joined["order_up_to_units"], rtol=1e-5)
    np.testing.assert_allclose(joined["suggested_order_units_file"], joined["suggested_order_units"], rtol=1e-5)
    assert (joined["effective_date"] == joined["as_of_date"].astype(str)).all()
    uplift = pd.read_csv(paths.outbound_dir / files["promotion_uplift"]["file"], dtype=ids)
    table = con.execute("select * from forecast.promotion_uplift").df()
    assert len(uplift) == files["promotion_uplift"]["row_count"] == len(table)
    joined = uplift.merge(table, on=["promotion_id", "item_id", "location_id"], suffixes=("_file", ""))
    np.testing.assert_allclose(joined["uplift_units_file"], joined["uplift_units"], rtol=1e-5)


@pytest.fixture
def dagster_home(tmp_path: Path):
    saved = dict(os.environ)
    os.environ["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    (tmp_path / "dagster_home").mkdir()
    yield tmp_path / "dagster_home"
    os.environ.clear()
    os.environ.update(saved)


def _data(warehouse: Path, schemas: tuple[str, ...] = ("raw", "ops")) -> dict[str, list[tuple]]:
    """Every row of every table in `schemas`, sorted: the warehouse's data, whatever its file bytes."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            f"where table_schema in ({', '.join(repr(s) for s in schemas)}) order by 1"
        ).fetchall()
        return {t: con.execute(f"select * from {t} order by all").fetchall() for (t,) in tables}


def test_bad_files_are_rejected_or_quarantined_and_the_run_completes(dagster_home, tmp_path: Path, capsys,
                                                                     monkeypatch) -> None:
    """DESIGN §3: the run exits 0 and prints the counts; a restated date reaches the marts on the next run."""
    from forecasting import ForecastConfig
    from orchestration import forecasting as forecasting_assets
    from orchestration.cli import main

    # This test is about ingestion and restatement: the pooled model alone forecasts (no Prophet fits),
    # which keeps its two full runs short. The forecast itself is tested on `seeded_run`.
    monkeypatch.setattr(
        forecasting_assets, "_config", lambda folders: ForecastConfig(min_history_weeks=10**6, workers=1)
    )

    landing = tmp_path / "landing"
    shutil.copytree(SEEDS_DIR, landing)
    sales_files = sorted((landing / "pos" / "sales").glob("*/*.csv"))
    missing_column = sales_files[10]
    pd.read_csv(missing_column, dtype=str).drop(columns=["units"]).to_csv(missing_column, index=False)
    bad_value = sales_files[3]
    frame = pd.read_csv(bad_value, dtype=str)
    frame.loc[4, "units"] = "lots"
    frame.to_csv(bad_value, index=False)
    warehouse = tmp_path / "warehouse" / "retail.duckdb"

    code = main(["run", "--landing", str(landing), "--warehouse", str(warehouse), "--outbound", str(tmp_path / "out")])

    output = capsys.readouterr().out
    assert code == 0
    files = 1 + 1 + 1 + 78 + 78  # items, locations, promotions, 78 weekly sales and snapshot extracts
    rows = 12 + 4 + 358 + 78 * 48 * 2 - 48  # the rejected file's 48 rows are not counted as loaded
    assert (f"ingestion: {files - 1} files loaded ({rows - 1} rows loaded, 1 rows quarantined in ops.quarantine), "
            "1 files rejected, 0 duplicates skipped") in output
    rejected_file = missing_column.relative_to(landing).as_posix()
    assert f"rejected {rejected_file}: required column 'units' of pos/sales is missing" in output
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.pos__sales where _file = ?", [rejected_file]).fetchall() == [(0,)]
        quarantined = con.execute("select file, line_number, column_name, raw_record from ops.quarantine").fetchall()
        # Line 6 = the header + the 5th row.
        assert [(q[0], q[1], q[2]) for q in quarantined] == [(bad_value.relative_to(landing).as_posix(), 6, "units")]
        assert '"units":"lots"' in quarantined[0][3]
        sell_through_before = con.execute("select sum(units_sold) from marts.fct_sell_through").fetchall()[0][0]

    # The source re-sends the rejected week with its units (restating nothing: it never loaded) and
    # restates another week with every unit doubled; the next run's dbt build carries both to the marts.
    fixed = pd.read_csv(sales_files[11], dtype=str)  # a good week's file as a template for the columns
    week = pd.read_csv(missing_column, dtype=str)
    week.insert(3, "units", "1")
    (missing_column.parent / "sales_resent.csv").write_text(week[fixed.columns].to_csv(index=False))
    restated = sales_files[20]
    doubled = pd.read_csv(restated, dtype=str)
    restated_units = doubled["units"].astype(float).sum()
    doubled["units"] = (doubled["units"].astype(float) * 2).map(lambda v: f"{v:g}")
    doubled.to_csv(restated.with_name("sales_restated.csv"), index=False)
    os.utime(restated.with_name("sales_restated.csv"), ns=(restated.stat().st_mtime_ns + 10**9,) * 2)

    code = main(["run", "--landing", str(landing), "--warehouse", str(warehouse), "--outbound", str(tmp_path / "out")])

    assert code == 0
    assert "ingestion: 2 files loaded (96 rows loaded, 0 rows quarantined" in capsys.readouterr().out
    with duckdb.connect(str(warehouse), read_only=True) as con:
        outcome = con.execute("select outcome, superseded_by from ops.file_registry where file = ?",
                              [restated.relative_to(landing).as_posix()]).fetchall()
        assert outcome == [("superseded", restated.with_name("sales_restated.csv").relative_to(landing).as_posix())]
        sell_through_after = con.execute("select sum(units_sold) from marts.fct_sell_through").fetchall()[0][0]
    assert sell_through_after == pytest.approx(sell_through_before + restated_units + 48)


def test_rerunning_a_partition_changes_no_data(seeded_run, dagster_home, tmp_path: Path) -> None:
    """Re-running ingestion for one extract date, or for all of them, leaves every raw and ops row as it was."""
    from dagster import DagsterInstance

    from orchestration.definitions import defs
    from orchestration.ingestion import raw_assets, register_extract_dates

    built, _, _ = seeded_run
    warehouse = tmp_path / "retail.duckdb"
    shutil.copyfile(built.warehouse, warehouse)
    before = _data(warehouse)
    assert before["raw.pos__sales"] and before["ops.file_registry"]
    RunPaths(SEEDS_DIR, warehouse, tmp_path / "outbound").export()
    raw_keys = [key for assets_def in raw_assets for key in assets_def.keys]
    job = defs.resolve_job_def("retailops_main")
    with DagsterInstance.get() as instance:
        # Nothing is new for this warehouse: the CLI would run without a partition.
        assert register_extract_dates(instance, SEEDS_DIR, warehouse) == {}
        for partition in ("2024-05-23", "2025-06-26"):
            result = job.execute_in_process(instance=instance, partition_key=partition, asset_selection=raw_keys)
            assert result.success
            assert _data(warehouse) == before, partition
        result = job.execute_in_process(instance=instance, asset_selection=raw_keys)
        assert result.success and _data(warehouse) == before


def test_failure_mid_run_leaves_the_warehouse_as_it_was(seeded_run, dagster_home, tmp_path: Path,
                                                        monkeypatch) -> None:
    """The run works on a copy: a step that fails after ingestion leaves the previous warehouse byte for byte."""
    import orchestration.forecasting
    from forecasting import ForecastConfig

    # the backtest runs before the failing step: the pooled model alone keeps it short
    monkeypatch.setattr(
        orchestration.forecasting, "_config", lambda folders: ForecastConfig(min_history_weeks=10**6, workers=1)
    )

    built, _, _ = seeded_run
    warehouse = tmp_path / "retail.duckdb"
    shutil.copyfile(built.warehouse, warehouse)
    landing = tmp_path / "landing"
    shutil.copytree(SEEDS_DIR, landing)
    extra = sorted((landing / "pos" / "sales").glob("*/*.csv"))[5]
    shutil.copyfile(extra, extra.with_name("sales_again.csv"))  # something new to ingest: a duplicate
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()

    def fail(*args, **kwargs):
        raise RuntimeError("forecast worker died")

    monkeypatch.setattr(orchestration.forecasting, "forecast_all", fail)
    with pytest.raises(Exception) as raised:
        run_pipeline(RunPaths(landing, warehouse, tmp_path / "outbound"))
    assert "forecast worker died" in str(getattr(raised.value, "user_exception", raised.value))
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
    assert not list(tmp_path.glob(".*.building"))


def test_lineage_is_continuous_from_landing_to_writeback() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()

    def ancestors(key: str) -> set[str]:
        seen, todo = set(), [key]
        while todo:
            current = todo.pop()
            for parent in graph.get(_key(current)).parent_keys:
                name = parent.to_user_string()
                if name not in seen:
                    seen.add(name)
                    todo.append(name)
        return seen

    def _key(name: str):
        from dagster import AssetKey

        return AssetKey(name.split("/"))

    upstream = ancestors("writeback/erp_outbound_files")
    for name in ("landing/pos__sales", "raw/pos__sales", "staging/stg_pos__sales",
                 "intermediate/int_demand_weekly", "forecast/promotion_uplift", "forecast/replenishment_targets",
                 "landing/erp__promotions", "landing/inventory__snapshots"):
        assert name in upstream, name
    # a path through a mart: the writeback values changes at the item dimension's unit cost
    assert {"marts/dim_item", "staging/stg_erp__items", "raw/erp__items", "landing/erp__items"} <= upstream
    assert "forecast/demand_weekly" in ancestors("marts/fct_promotion_profitability")
    assert "raw/pos__sales" in ancestors("marts/fct_sell_through")


def test_failed_critical_expectation_blocks_dbt_and_keeps_the_warehouse(seeded_run, dagster_home, tmp_path: Path,
                                                                        monkeypatch, capsys) -> None:
    """A blocking check that fails stops the run before dbt: exit 1, the previous warehouse as it was."""
    import expectations.runner
    from expectations.runner import ExpectationOutcome, SuiteResult
    from orchestration.cli import main

    built, _, _ = seeded_run
    warehouse = tmp_path / "retail.duckdb"
    shutil.copyfile(built.warehouse, warehouse)
    landing = tmp_path / "landing"
    shutil.copytree(SEEDS_DIR, landing)
    resent = sorted((landing / "pos" / "sales").glob("*/*.csv"))[7]
    frame = pd.read_csv(resent, dtype=str)
    frame["units"] = "1"
    frame.to_csv(resent.with_name("sales_restated.csv"), index=False)  # something new to load
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    real_run_suite = expectations.runner.run_suite

    def failing_sales_suite(con, suite, load_id=None):
        result = real_run_suite(con, suite, load_id)
        if suite.name == "raw.pos__sales":
            result.outcomes.append(ExpectationOutcome("ExpectColumnValuesToNotBeNull", "units", "critical",
                                                      "planted failure", False, 3, 6.25, [None]))
        return SuiteResult(result.suite, result.rows_validated, result.outcomes)

    monkeypatch.setattr(expectations.runner, "run_suite", failing_sales_suite)
    code = main(["run", "--landing", str(landing), "--warehouse", str(warehouse), "--outbound", str(tmp_path / "out")])
    assert code == 1
    assert "stopped by a blocking check" in capsys.readouterr().err
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
