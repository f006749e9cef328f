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
from ingestion.loader import LandingError
from orchestration.cli import run_pipeline
from orchestration.lib.paths import SEEDS_DIR, RunPaths
from writeback.files import verify_manifest

pytestmark = pytest.mark.slow


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


def test_sell_through_matches_pandas_recomputation(seeded_run) -> None:
    _, _, con = seeded_run
    sales = _read_entity(SEEDS_DIR, "pos/sales")
    snapshots = _read_entity(SEEDS_DIR, "inventory/snapshots")
    items = _read_entity(SEEDS_DIR, "erp/items")
    expected = sales.merge(
        snapshots.rename(columns={"snapshot_date": "business_date"}),
        on=["business_date", "location_id", "item_id"],
    ).merge(items[["item_id", "unit_cost"]], on="item_id")
    denominator = expected["units"] + expected["on_hand_units"]
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


def test_missing_column_stops_the_run_and_keeps_the_warehouse(seeded_run, tmp_path: Path) -> None:
    built, _, _ = seeded_run
    landing = tmp_path / "landing"
    shutil.copytree(SEEDS_DIR, landing)
    bad = sorted((landing / "pos" / "sales").glob("*/*.csv"))[10]
    frame = pd.read_csv(bad, dtype=str).drop(columns=["units"])
    frame.to_csv(bad, index=False)
    warehouse = tmp_path / "retail.duckdb"
    shutil.copyfile(built.warehouse, warehouse)
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    with pytest.raises(LandingError, match="required column 'units'") as raised:
        run_pipeline(RunPaths(landing, warehouse, tmp_path / "outbound"))
    assert str(bad) in str(raised.value)
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
    assert not (tmp_path / "outbound").exists()


def test_bad_value_found_mid_run_leaves_no_partial_tables(seeded_run, tmp_path: Path) -> None:
    built, _, _ = seeded_run
    landing = tmp_path / "landing"
    shutil.copytree(SEEDS_DIR, landing)
    bad = sorted((landing / "pos" / "sales").glob("*/*.csv"))[3]
    frame = pd.read_csv(bad, dtype=str)
    frame.loc[4, "units"] = "lots"
    frame.to_csv(bad, index=False)
    warehouse = tmp_path / "retail.duckdb"
    shutil.copyfile(built.warehouse, warehouse)
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    saved = dict(os.environ)
    os.environ["DAGSTER_HOME"] = str(tmp_path)
    try:
        # The header is fine, so the run starts; the loader finds the value (line 6 = header + 5th row).
        with pytest.raises(LandingError, match=r"line 6, column 'units': got 'lots'"):
            run_pipeline(RunPaths(landing, warehouse, tmp_path / "outbound"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
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
    assert "forecast/demand_weekly" in ancestors("marts/fct_promotion_profitability")
    assert "raw/pos__sales" in ancestors("marts/fct_sell_through")
