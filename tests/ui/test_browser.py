"""End to end in a real browser: the main job on the seeds, Dagster's UI on it, headless Chromium.

Checks what a person sees: the lineage from a landing extract to the marts, the report and the
ERP writeback (which reads the forecast and values changes at the item dimension's unit cost, so
a path runs landing → raw → staging → marts/dim_item → writeback),
the report's charts (drawn, one bar per promotion listed), and the places
docs/planners.md sends a planner to find why a number changed (run tags, the extract-date
partitions and load metadata, the dbt code version, the forecast's model version).

Chromium is Debian's (/usr/bin/chromium, installed by .ci/run); Playwright only drives it and
never downloads a browser. Screenshots go to the test's folder and to test-output/ui/.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.paths import PROJECT_ROOT, SEEDS_DIR
from tests.retailops_ui import retailops_ui

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
STABLE_OUTPUT = PROJECT_ROOT / "test-output" / "ui"
ASSET_NODES_QUERY = "{ assetNodes { assetKey { path } } }"
# Every node of a lineage graph and every group box around nodes, with their SVG coordinates.
GRAPH_JS = """() => {
  const box = el => ({x: +el.getAttribute('x'), y: +el.getAttribute('y'),
                      w: +el.getAttribute('width'), h: +el.getAttribute('height')});
  const groups = [], nodes = [];
  for (const el of document.querySelectorAll('svg foreignObject')) {
    const name = el.querySelector('[class*="AssetNode_assetName"]');
    const group = el.querySelector('[data-tooltip]');
    if (name) nodes.push({label: name.textContent.trim(), ...box(el)});
    else if (group) groups.push({group: group.getAttribute('data-tooltip'), ...box(el)});
  }
  return {groups, nodes};
}"""


def _require_browser() -> None:
    """Skip without Chromium or Playwright on a developer's machine; fail loudly in CI."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium chromium-driver)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (make setup)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs Chromium before the tests")
        pytest.skip(message)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory):
    """Save a screenshot in the test's folder and copy it to test-output/ui/."""
    folder = tmp_path_factory.mktemp("screenshots")
    STABLE_OUTPUT.mkdir(parents=True, exist_ok=True)

    def save(page, name: str, **options) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), **options)
        shutil.copyfile(path, STABLE_OUTPUT / path.name)
        return path

    return save


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory):
    """The main job (and writeback) on the seeds, with the pooled model only to keep it quick."""
    _require_browser()
    from forecasting import ForecastConfig
    from orchestration import forecasting as forecasting_assets
    from orchestration.cli import run_pipeline
    from orchestration.lib.paths import RunPaths

    root = tmp_path_factory.mktemp("browser")
    patch = pytest.MonkeyPatch()
    patch.setattr(forecasting_assets, "_config", lambda folders: ForecastConfig(min_history_weeks=10**6, workers=1))
    saved = dict(os.environ)
    os.environ.pop("RETAILOPS_BI_DIR", None)
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    (root / "dagster_home").mkdir()
    paths = RunPaths(SEEDS_DIR, root / "warehouse" / "retail.duckdb", root / "outbound")
    try:
        summary = run_pipeline(paths)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        patch.undo()
    yield {"root": root, "paths": paths, "summary": summary, "report": root / "bi" / "promotion_and_stock_report.html"}


@pytest.fixture(scope="module")
def ui(pipeline):
    """`retailops ui` on a free port, on the run history and warehouse the pipeline just made."""
    paths = pipeline["paths"]
    env = {key: value for key, value in os.environ.items() if key != "RETAILOPS_BI_DIR"}
    env.update(DAGSTER_HOME=str(pipeline["root"] / "dagster_home"), RETAILOPS_WAREHOUSE=str(paths.warehouse),
               RETAILOPS_LANDING_DIR=str(paths.landing_dir), RETAILOPS_OUTBOUND_DIR=str(paths.outbound_dir))
    with retailops_ui(env, pipeline["root"] / "ui.log") as (port, process):
        base = f"http://127.0.0.1:{port}"
        _wait_for_definitions(base, time.monotonic() + 180, process)
        yield base


def _wait_for_definitions(base: str, deadline: float, process: subprocess.Popen) -> None:
    request = urllib.request.Request(
        f"{base}/graphql", data=json.dumps({"query": ASSET_NODES_QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"retailops ui exited with {process.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if json.load(response)["data"]["assetNodes"]:
                    return
        except (OSError, KeyError, TypeError) as exc:  # not up yet, or definitions still loading
            last_error = exc
        time.sleep(1)
    raise AssertionError(f"Dagster UI did not answer at {base}: {last_error}")


@pytest.fixture(scope="module")
def browser(pipeline):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def _run_ids(pipeline) -> dict[str, str]:
    from dagster import DagsterInstance

    saved = dict(os.environ)
    os.environ["DAGSTER_HOME"] = str(pipeline["root"] / "dagster_home")
    try:
        with DagsterInstance.get() as instance:
            return {run.job_name: run.run_id for run in reversed(instance.get_runs())}  # newest wins
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- lineage --------------------------------------------------------------------------------------


def _lineage(page, url: str, minimum_nodes: int) -> dict:
    """Open a lineage view and wait until its layout has settled (node count stable for 2 s)."""
    page.goto(url)
    page.wait_for_selector('[class*="AssetNode_assetName"]')
    previous, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 2:
        graph = page.evaluate(GRAPH_JS)
        if len(graph["nodes"]) != previous:
            previous, stable_since = len(graph["nodes"]), time.monotonic()
        time.sleep(0.25)
    assert len(graph["nodes"]) >= minimum_nodes, f"only {len(graph['nodes'])} nodes drawn at {url}"
    return graph


def _shown_keys(graph: dict) -> list[tuple[str, str]]:
    """(group, label) of every node: the smallest group box that contains the node."""
    shown = []
    for node in graph["nodes"]:
        around = [g for g in graph["groups"] if g["x"] <= node["x"] and node["x"] + node["w"] <= g["x"] + g["w"]
                  and g["y"] <= node["y"] and node["y"] + node["h"] <= g["y"] + g["h"]]
        group = min(around, key=lambda g: g["w"] * g["h"])["group"] if around else ""
        shown.append((group, node["label"]))
    return shown


def _drawn(shown: list[tuple[str, str]], key: str) -> bool:
    """Is asset `group/name` drawn (its Dagster group: the key's prefix, but ops/* is in group raw)?
    Long names are shortened in the middle: fct…_profitability."""
    group, name = key.split("/")
    for shown_group, label in shown:
        if shown_group != group:
            continue
        head, _, tail = label.partition("…")
        if label == name or (_ and name.startswith(head) and name.endswith(tail) and len(name) > len(head + tail)):
            return True
    return False


def test_lineage_leads_from_a_landing_extract_to_the_marts_the_report_and_the_writeback(ui, page, shots) -> None:
    # Everything downstream of the POS extracts: if a node is drawn here, a path leads to it.
    # landing → raw → staging → intermediate → forecast/demand_weekly, which feeds both the marts
    # (→ BI snapshot → report) and the replenishment targets (→ ERP writeback).
    graph = _lineage(page, f"{ui}/assets/landing/pos__sales?view=lineage&lineageScope=downstream&lineageDepth=12", 20)
    shown = _shown_keys(graph)
    path = [
        "landing/pos__sales", "raw/pos__sales", "staging/stg_pos__sales", "intermediate/int_demand_weekly",
        "forecast/demand_weekly", "marts/fct_promotion_profitability", "marts/fct_promotion_summary",
        "marts/fct_stock_exposure", "bi/marts_snapshot", "bi/promotion_and_stock_report",
        "forecast/replenishment_targets", "writeback/erp_outbound_files",
    ]
    missing = [key for key in path if not _drawn(shown, key)]
    assert not missing, f"not drawn downstream of landing/pos__sales: {missing}; drawn: {sorted(shown)}"
    # nothing upstream of the extract is in a downstream view
    assert not _drawn(shown, "landing/erp__items")
    writeback = page.locator('[class*="AssetNode_assetName"]', has_text="erp_outbound_files")
    box = writeback.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0
    shots(page, "lineage-landing-pos-sales-downstream")


def test_lineage_leads_from_a_landing_extract_through_a_mart_to_the_writeback(ui, page, shots) -> None:
    # Four steps upstream of the writeback: the item master's extract reaches it through the item
    # dimension, whose unit cost values each change against the review thresholds.
    graph = _lineage(
        page, f"{ui}/assets/writeback/erp_outbound_files?view=lineage&lineageScope=upstream&lineageDepth=4", 8
    )
    shown = _shown_keys(graph)
    path = ["landing/erp__items", "raw/erp__items", "staging/stg_erp__items", "marts/dim_item",
            "writeback/erp_outbound_files"]
    missing = [key for key in path if not _drawn(shown, key)]
    assert not missing, f"not drawn upstream of writeback/erp_outbound_files: {missing}; drawn: {sorted(shown)}"
    shots(page, "lineage-writeback-upstream")


def test_report_lineage_shows_the_marts_it_reads(ui, page, shots) -> None:
    graph = _lineage(
        page, f"{ui}/assets/bi/promotion_and_stock_report?view=lineage&lineageScope=upstream&lineageDepth=1", 8
    )
    shown = _shown_keys(graph)
    for key in ("bi/marts_snapshot", "marts/fct_promotion_summary", "marts/fct_promotion_profitability",
                "marts/fct_stock_exposure", "marts/dim_item", "marts/dim_location", "raw/column_provenance"):
        assert _drawn(shown, key), f"{key} is not drawn upstream of the report: {sorted(shown)}"
    shots(page, "lineage-report-upstream")


# --- the report ------------------------------------------------------------------------------------


def test_report_charts_render_in_chromium(pipeline, page, shots) -> None:
    report = pipeline["report"]
    assert report.is_file(), f"the run wrote no report at {report}"
    assert any(line.startswith(str(report)) for line in pipeline["summary"].files_written)
    page.set_viewport_size({"width": 1040, "height": 1300})
    page.goto(report.as_uri())
    charts = page.locator("svg.chart")
    assert charts.count() == 8  # 4 promotion charts, 4 stock charts
    for index in range(charts.count()):
        box = charts.nth(index).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 50, f"chart {index} is not drawn: {box}"

    with duckdb.connect(str(pipeline["paths"].warehouse), read_only=True) as con:
        ranked = con.execute(
            "select promotion_id, incremental_gross_margin::double, actual_units from marts.fct_promotion_summary "
            "where incremental_gross_margin is not null order by incremental_gross_margin desc, promotion_id"
        ).fetchall()
    shown = ranked if len(ranked) <= 20 else ranked[:10] + ranked[-10:]
    units_chart = page.locator('svg[data-chart="promotion_units"]')
    actual_bars = units_chart.locator('rect[data-series="actual_units"]')
    assert actual_bars.count() == len(shown) == int(units_chart.get_attribute("data-rows"))
    assert page.locator("#promotions-table tbody tr").count() == len(shown)
    for index, (promotion_id, _, actual_units) in enumerate(shown):
        bar = actual_bars.nth(index)
        assert bar.get_attribute("data-key") == promotion_id
        assert float(bar.get_attribute("data-value")) == pytest.approx(actual_units)
        box = bar.bounding_box()
        assert box and (box["width"] > 0 or actual_units == 0), f"{promotion_id}: bar not drawn"
    margin_bars = page.locator('svg[data-chart="promotion_margin"] rect.bar')
    assert [float(margin_bars.nth(i).get_attribute("data-value")) for i in range(margin_bars.count())] == (
        pytest.approx([margin for _, margin, _ in shown], abs=1e-4)
    )
    assert "is synthetic" in page.locator("footer").inner_text()
    shots(page, "report-seeds-top")
    stock_top = page.evaluate("document.querySelector('#stock').getBoundingClientRect().top + window.scrollY")
    shots(page, "report-seeds-stock", clip={"x": 0, "y": stock_top, "width": 1040, "height": 1300}, full_page=True)
    shots(page, "report-seeds-full", full_page=True)


# --- where a number came from (docs/planners.md) ------------------------------------------------------


def test_run_history_shows_the_main_run_and_its_extract_date_tags(pipeline, ui, page, shots) -> None:
    runs = _run_ids(pipeline)
    page.goto(f"{ui}/runs")
    page.get_by_text(runs["retailops_main"][:8]).first.wait_for()
    page.get_by_text("retailops_writeback").first.wait_for()
    shots(page, "planners-runs")
    page.goto(f"{ui}/runs/{runs['retailops_main']}")
    page.get_by_text("View tags and config").click()
    dialog = page.get_by_role("dialog")
    # the UI shows dagster/* tags without their prefix; the seeds' extract dates run 2024-01-04 … 2025-06-26
    dialog.get_by_text("asset_partition_range_start: 2024-01-04").wait_for()
    dialog.get_by_text("asset_partition_range_end: 2025-06-26").wait_for()
    shots(page, "planners-run-tags")


def test_raw_partition_shows_its_run_and_the_file_registry_agrees(pipeline, ui, page, shots) -> None:
    main_run = _run_ids(pipeline)["retailops_main"]
    page.goto(f"{ui}/assets/raw/pos__sales?view=partitions")
    page.get_by_placeholder("Filter by name").fill("2025-06-19")
    page.get_by_text("2025-06-19", exact=True).filter(visible=True).first.click()
    page.get_by_text("files_loaded").first.wait_for()
    page.get_by_text(main_run[:8]).first.wait_for()
    # one run loaded the whole range, so the partition shows the run's totals: 78 weekly extracts
    page.get_by_text("78 (2024-01-04 … 2025-06-26)").wait_for()
    shots(page, "planners-raw-partition")
    with duckdb.connect(str(pipeline["paths"].warehouse), read_only=True) as con:
        loads = con.execute(
            "select distinct load_id from ops.file_registry where entity = 'pos/sales' and extract_date = '2025-06-19'"
        ).fetchall()
    assert loads == [(main_run,)]  # ops.file_registry.load_id is the Dagster run id


def test_mart_materialization_carries_the_dbt_code_version(ui, page, shots, dbt_manifest: Path) -> None:
    raw_code = json.loads(dbt_manifest.read_text())["nodes"]["model.retailops.fct_promotion_summary"]["raw_code"]
    code_version = hashlib.sha1(raw_code.encode("utf-8")).hexdigest()  # dagster-dbt's default code version
    page.goto(f"{ui}/assets/marts/fct_promotion_summary?view=events")
    page.get_by_text("Show tags").click()
    page.get_by_text("code_version", exact=True).wait_for()  # dagster/code_version, shown without its prefix
    page.get_by_text(code_version).first.wait_for()
    shots(page, "planners-mart-code-version")


def test_forecast_asset_shows_the_model_version_the_tables_carry(pipeline, ui, page, shots) -> None:
    from forecasting import ForecastConfig

    with duckdb.connect(str(pipeline["paths"].warehouse), read_only=True) as con:
        versions = con.execute("select distinct model_version from forecast.demand_weekly").fetchall()
        lines = con.execute(
            "select distinct baseline_model_version from marts.fct_promotion_profitability"
        ).fetchall()
    assert versions == lines == [(ForecastConfig().model_version,)]
    page.goto(f"{ui}/assets/forecast/demand_weekly")
    page.get_by_text("model_version").first.wait_for()
    page.get_by_text(versions[0][0]).first.wait_for()
    shots(page, "planners-forecast-model-version")
