"""The semantic layer and the exposures: dbt's parser validates them, and they say what finance needs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.dbt.test_dbt_build import PROJECT_DIR


def _parse(project: Path, tmp: Path) -> Any:
    from dbt.cli.main import dbtRunner

    return dbtRunner().invoke(
        [
            "parse", "--project-dir", str(project), "--profiles-dir", str(project),
            "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"), "--quiet", "--no-partial-parse",
        ]
    )  # fmt: skip


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("parse")
    result = _parse(PROJECT_DIR, tmp)
    assert result.success, result.exception
    semantic = json.loads((tmp / "target" / "semantic_manifest.json").read_text())
    manifest = json.loads((tmp / "target" / "manifest.json").read_text())
    return semantic, manifest


def test_finance_metrics_are_defined_on_summed_parts(parsed) -> None:
    semantic, _ = parsed
    metrics = {m["name"]: m for m in semantic["metrics"]}
    ratios = {
        "sell_through_rate": ("sell_through_numerator", "sell_through_denominator"),
        "promotion_roi": ("roi_numerator", "roi_denominator"),
        "promotion_lift": ("incremental_units", "baseline_units"),
        "stockout_rate_during_campaigns": ("stockout_rate_numerator", "stockout_rate_denominator"),
        "price_compliance_rate": ("price_compliance_numerator", "price_compliance_denominator"),
    }
    for name, (numerator, denominator) in ratios.items():
        params = metrics[name]["type_params"]
        assert metrics[name]["type"] == "ratio", name
        assert (params["numerator"]["name"], params["denominator"]["name"]) == (numerator, denominator), name
    assert metrics["incremental_margin"]["type_params"]["measure"]["name"] == "incremental_gross_margin"
    assert metrics["inventory_at_cost"]["type_params"]["measure"]["name"] == "on_hand_at_cost"


def test_stock_is_not_summed_across_dates(parsed) -> None:
    semantic, _ = parsed
    exposure = next(s for s in semantic["semantic_models"] if s["name"] == "stock_exposure")
    measures = {m["name"]: m for m in exposure["measures"]}
    for name in ("on_hand_at_cost", "inventory_position_at_cost"):
        assert measures[name]["non_additive_dimension"]["name"] == "snapshot_date"
        assert measures[name]["non_additive_dimension"]["window_choice"] == "max"


def test_time_spine_is_the_retail_calendar(parsed) -> None:
    semantic, _ = parsed
    spines = semantic["project_configuration"]["time_spines"]
    assert [(s["node_relation"]["alias"], s["primary_column"]["name"]) for s in spines] == [
        ("dim_calendar", "date_day")
    ]


def test_exposures_name_the_dashboards_and_the_writeback_jobs(parsed) -> None:
    _, manifest = parsed
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {e["type"] for e in exposures.values()} == {"dashboard", "application"}
    assert (
        "model.retailops.fct_promotion_summary" in exposures["finance_promotion_profitability"]["depends_on"]["nodes"]
    )
    assert "model.retailops.fct_stock_exposure" in exposures["finance_inventory_exposure"]["depends_on"]["nodes"]
    assert set(exposures["erp_writeback"]["depends_on"]["nodes"]) == {
        "source.retailops.forecast.promotion_uplift",
        "source.retailops.forecast.replenishment_targets",
        "model.retailops.dim_item",
        "model.retailops.stg_erp__promotions",
    }


def test_the_parser_rejects_a_metric_on_a_missing_measure(tmp_path: Path) -> None:
    # proof that `dbt parse` really validates the semantic layer, so the checks above mean something
    project = tmp_path / "dbt_project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    semantic = project / "models" / "marts" / "_marts__semantic.yml"
    semantic.write_text(semantic.read_text().replace("measure: on_hand_at_cost", "measure: on_hand_at_kost"))
    result = _parse(project, tmp_path)
    assert not result.success
    assert "on_hand_at_kost" in str(result.exception)
