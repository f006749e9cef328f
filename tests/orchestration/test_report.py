"""The promotion and stock report: every charted figure equals the marts, recomputed with pandas.

The marts here are small hand-made tables (only the columns the report reads) with the awkward
cases in them: an unmeasured promotion, a fully funded one, negative margins, an unknown stock-out
risk, earlier snapshot dates that must not count, an item and a location missing from the
dimensions, and more promotions and locations than the charts show.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.lib.report import load_report_data, render_report, write_report
from orchestration.lib.report.data import ReportError

LATEST = date(2025, 6, 25)
CATEGORIES = {"I1": "BAG SNACKS", "I2": "BAG SNACKS", "I3": "COLD CEREAL", "I4": "FROZEN PIZZA"}


class ChartParser(HTMLParser):
    """Collects every <svg class="chart"> and the data attributes of its bars and n/a markers."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, dict] = {}
        self.empty: list[str] = []
        self.footer: dict[str, str] = {}
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        if tag == "svg" and "data-chart" in attributes:
            self.charts[attributes["data-chart"]] = {"rows": int(attributes["data-rows"]), "bars": [], "na": []}
        elif tag == "rect" and "bar" in attributes.get("class", "").split():
            self.charts[attributes["data-chart"]]["bars"].append(attributes)
        elif tag == "text" and attributes.get("class") == "na":
            self.charts[attributes["data-chart"]]["na"].append(attributes)
        elif "data-empty" in attributes:
            self.empty.append(attributes["data-empty"])
        elif tag == "footer":
            self.footer = attributes

    def values(self, chart: str, series: str) -> dict[str, float]:
        return {b["data-key"]: float(b["data-value"]) for b in self.charts[chart]["bars"] if b["data-series"] == series}

    def keys(self, chart: str, series: str) -> list[str]:
        return [b["data-key"] for b in self.charts[chart]["bars"] if b["data-series"] == series]


def _parse(html: str) -> ChartParser:
    parser = ChartParser()
    parser.feed(html)
    return parser


def _marts() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    promotions = []
    for n in range(26):
        actual = float(rng.integers(50, 900))
        baseline = actual * float(rng.uniform(0.5, 1.1))
        margin = float(rng.normal(0, 400)).__round__(4)
        discount = float(rng.uniform(20, 500)).__round__(4)
        promotions.append(
            dict(promotion_id=f"P{n:03d}", start_date=date(2025, 1, 1) + timedelta(days=7 * n),
                 end_date=date(2025, 1, 14) + timedelta(days=7 * n), mechanic="tpr", approved_lines=3,
                 measured_lines=3, actual_units=actual, baseline_units=baseline, incremental_units=actual - baseline,
                 lift_pct=(actual - baseline) / baseline, incremental_gross_margin=margin, discount_cost=discount,
                 vendor_funding=0.0, roi=margin / discount, is_fully_funded=False)
        )
    promotions[3].update(vendor_funding=900.0, roi=None, is_fully_funded=True)  # fully funded: no ROI
    promotions[4].update(roi=None, discount_cost=0.0)  # no discount cost: no ROI either
    promotions.append(  # approved, nothing measured
        dict(promotion_id="P999", start_date=date(2025, 6, 1), end_date=date(2025, 6, 7), mechanic="display",
             approved_lines=2, measured_lines=0, actual_units=None, baseline_units=None, incremental_units=None,
             lift_pct=None, incremental_gross_margin=None, discount_cost=None, vendor_funding=0.0, roi=None,
             is_fully_funded=None)
    )
    lines = []
    for p in promotions[:-1]:
        for item in ("I1", "I3", "I9"):  # I9 is not in dim_item
            lines.append(dict(promotion_id=p["promotion_id"], item_id=item, location_id="L01",
                              actual_units=p["actual_units"] / 3, baseline_units=p["baseline_units"] / 3,
                              incremental_gross_margin=round(p["incremental_gross_margin"] / 3, 4)))
    stock = []
    for location in range(30):
        for item in (*CATEGORIES, "I9"):
            for snapshot, latest in ((LATEST - timedelta(days=7), False), (LATEST, True)):
                risk = [True, False, None][int(rng.integers(0, 3))] if location % 4 else bool(rng.integers(0, 2))
                excess = float(rng.uniform(0, 40)) if latest and not risk else (0.0 if latest else None)
                stock.append(dict(item_id=item, location_id=f"L{location:02d}", snapshot_date=snapshot,
                                  is_latest_snapshot_date=latest, stockout_risk=risk, excess_units=excess,
                                  excess_at_cost=None if excess is None else round(excess * 1.75, 4),
                                  on_hand_units=float(rng.integers(-2, 60)),
                                  on_hand_at_cost=round(float(rng.uniform(0, 300)), 4)))
    items = pd.DataFrame({"item_id": list(CATEGORIES), "category": list(CATEGORIES.values())})
    locations = pd.DataFrame({"location_id": [f"L{n:02d}" for n in range(29)],  # L29 is not in dim_location
                              "location_name": [f"STORE {n}" for n in range(29)]})
    return {
        "fct_promotion_summary": pd.DataFrame(promotions),
        "fct_promotion_profitability": pd.DataFrame(lines),
        "fct_stock_exposure": pd.DataFrame(stock),
        "dim_item": items,
        "dim_location": locations,
    }


PROVENANCE = pd.DataFrame(
    [
        ("batf", "erp/items", "unit_cost", "derived", "regular_price × (1 − assumed gross margin by category)"),
        ("batf", "erp/items", "lead_time_days", "derived", "assumed lead time days by category"),
        ("batf", "erp/items", "category", "observed", "products.category"),
        ("batf", "inventory/snapshots", "on_hand_units", "derived", "simulated order-up-to policy"),
        ("batf", "pos/sales", "units", "observed", "transactions.units"),
        ("batf", "pos/sales", "net_sales", "observed", "transactions.spend"),
    ],
    columns=["dataset", "entity", "column_name", "origin", "rule"],
)


def _warehouse(path: Path, marts: dict[str, pd.DataFrame], provenance: pd.DataFrame | None = PROVENANCE) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        for name, frame in marts.items():
            con.register("frame", frame)
            con.execute(f"create table marts.{name} as select * from frame")
            con.unregister("frame")
        # the summary's money columns are DECIMAL in the real mart
        for column in ("incremental_gross_margin", "discount_cost", "vendor_funding"):
            con.execute(f"alter table marts.fct_promotion_summary alter {column} type decimal(18,4)")
        if provenance is not None:
            con.execute("create schema ops")
            con.register("frame", provenance)
            con.execute("create table ops.column_provenance as select * from frame")
    return path


def _render(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        data = load_report_data(con, source="test marts", generated_at=datetime(2025, 6, 26, tzinfo=UTC))
    return render_report(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[ChartParser, dict[str, pd.DataFrame], str]:
    marts = _marts()
    html = _render(_warehouse(tmp_path_factory.mktemp("report") / "w.duckdb", marts))
    return _parse(html), marts, html


def _ends(frame: pd.DataFrame, column: str, per_end: int = 10) -> pd.DataFrame:
    ranked = frame.dropna(subset=[column]).sort_values([column, "promotion_id"], ascending=[False, True])
    return pd.concat([ranked.head(per_end), ranked.tail(per_end)]) if len(ranked) > 2 * per_end else ranked


def test_promotion_charts_equal_the_summary_mart(report) -> None:
    parser, marts, _ = report
    summary = marts["fct_promotion_summary"]
    shown = _ends(summary, "incremental_gross_margin")
    assert len(shown) == 20  # 25 measured promotions: the best 10 and the worst 10
    assert parser.keys("promotion_margin", "incremental_gross_margin") == list(shown["promotion_id"])
    assert parser.charts["promotion_margin"]["rows"] == 20
    margins = parser.values("promotion_margin", "incremental_gross_margin")
    for row in shown.itertuples():
        assert margins[row.promotion_id] == pytest.approx(row.incremental_gross_margin, abs=1e-4)
    # the units chart shows the same promotions, in the same order, with one actual bar each
    assert parser.keys("promotion_units", "actual_units") == list(shown["promotion_id"])
    actual = parser.values("promotion_units", "actual_units")
    baseline = parser.values("promotion_units", "baseline_units")
    for row in shown.itertuples():
        assert actual[row.promotion_id] == pytest.approx(row.actual_units, rel=1e-12)
        assert baseline[row.promotion_id] == pytest.approx(row.baseline_units, rel=1e-12)
    assert "P999" not in actual  # unmeasured: not charted


def test_roi_ranking_leaves_out_promotions_without_roi(report) -> None:
    parser, marts, html = report
    summary = marts["fct_promotion_summary"]
    with_roi = _ends(summary, "roi")
    assert parser.keys("promotion_roi", "roi") == list(with_roi["promotion_id"])
    assert {"P003", "P004", "P999"}.isdisjoint(parser.keys("promotion_roi", "roi"))
    roi = parser.values("promotion_roi", "roi")
    for row in with_roi.itertuples():
        assert roi[row.promotion_id] == pytest.approx(row.roi, rel=1e-12)
    assert "1 fully funded promotions and 1 with no discount cost have none" in html


def test_category_margin_equals_the_line_mart(report) -> None:
    parser, marts, _ = report
    lines = marts["fct_promotion_profitability"].merge(marts["dim_item"], on="item_id", how="left")
    expected = lines.fillna({"category": "unknown"}).groupby("category")["incremental_gross_margin"].sum()
    assert parser.values("promotion_category_margin", "incremental_gross_margin") == pytest.approx(
        expected.to_dict(), abs=1e-6
    )
    assert "unknown" in expected.index  # the line of an item missing from dim_item still counts


def _latest_stock(marts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    stock = marts["fct_stock_exposure"]
    latest = stock[stock["is_latest_snapshot_date"]].merge(marts["dim_item"], on="item_id", how="left")
    latest["category"] = latest["category"].fillna("unknown")
    risk = latest["stockout_risk"]
    latest["at_risk"] = (risk == True).astype(int)  # noqa: E712 — object column holding True/False/None
    latest["risk_unknown"] = risk.isna().astype(int)
    latest["not_at_risk"] = (risk == False).astype(int)  # noqa: E712
    return latest


def test_stock_charts_by_category_equal_the_latest_snapshot(report) -> None:
    parser, marts, _ = report
    expected = _latest_stock(marts).groupby("category")[
        ["at_risk", "not_at_risk", "risk_unknown", "excess_at_cost"]
    ].sum()
    for series in ("at_risk", "not_at_risk", "risk_unknown"):
        assert parser.values("stock_risk_by_category", series) == expected[series].astype(float).to_dict()
    assert parser.values("stock_excess_by_category", "excess_at_cost") == pytest.approx(
        expected["excess_at_cost"].to_dict(), abs=1e-6
    )
    # every latest item × location is in exactly one of the three segments: 30 locations × 5 items
    assert int(expected[["at_risk", "not_at_risk", "risk_unknown"]].to_numpy().sum()) == 150


def test_stock_charts_by_location_show_the_top_25(report) -> None:
    parser, marts, _ = report
    by_location = _latest_stock(marts).groupby("location_id")[["at_risk", "excess_at_cost"]].sum().reset_index()
    top_risk = by_location.sort_values(["at_risk", "location_id"], ascending=[False, True]).head(25)
    assert parser.keys("stock_risk_by_location", "at_risk") == list(top_risk["location_id"])
    assert parser.values("stock_risk_by_location", "at_risk") == dict(
        zip(top_risk["location_id"], top_risk["at_risk"].astype(float), strict=True)
    )
    top_excess = by_location.sort_values(["excess_at_cost", "location_id"], ascending=[False, True]).head(25)
    assert parser.keys("stock_excess_by_location", "excess_at_cost") == list(top_excess["location_id"])
    assert parser.values("stock_excess_by_location", "excess_at_cost") == pytest.approx(
        dict(zip(top_excess["location_id"], top_excess["excess_at_cost"], strict=True)), abs=1e-6
    )


def test_bar_lengths_are_proportional_to_the_values(report) -> None:
    parser, _, _ = report
    for chart in ("promotion_margin", "promotion_units", "stock_excess_by_location"):
        bars = [b for b in parser.charts[chart]["bars"] if float(b["data-value"]) != 0]
        scale = {round(float(b["width"]) / abs(float(b["data-value"])), 2) for b in bars}
        assert len(scale) == 1, f"{chart}: bar widths are not one scale × value: {scale}"
    # negative margins are drawn left of the zero line, positive ones right of it
    margin_bars = parser.charts["promotion_margin"]["bars"]
    negative = [b for b in margin_bars if float(b["data-value"]) < 0]
    positive = [b for b in margin_bars if float(b["data-value"]) > 0]
    assert negative and positive
    zero = max(float(b["x"]) + float(b["width"]) for b in negative)
    assert all(float(b["x"]) == pytest.approx(zero, abs=0.02) for b in positive)


def test_report_is_self_contained(report) -> None:
    parser, _, html = report
    assert "<script" not in html.lower()
    for tag, attributes in parser.tags:
        assert tag not in ("link", "img", "iframe", "object"), f"external resource <{tag}>"
        for name in ("src", "href"):
            assert name not in attributes, f"<{tag} {name}=…> would load something"
    assert "://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_footer_says_which_inputs_are_derived(report) -> None:
    parser, _, html = report
    not_observed = set(parser.footer["data-not-observed"].split())
    assert not_observed == {"erp/items.unit_cost", "erp/items.lead_time_days", "inventory/snapshots.on_hand_units"}
    sentence = "unit costs (derived), on-hand stock (derived), supplier lead times (derived) are <b>not observed</b>"
    assert sentence in html
    assert "Observed in the source: units sold, net sales." in html
    assert "simulated order-up-to policy" in html  # the rule itself is shown


def test_synthetic_and_unrecorded_provenance_are_said_plainly(tmp_path: Path) -> None:
    synthetic = PROVENANCE.assign(origin="synthetic", dataset="retailops_synthetic_seed")
    html = _render(_warehouse(tmp_path / "synthetic.duckdb", _marts(), synthetic))
    assert "Dataset <b>retailops_synthetic_seed</b> is synthetic" in html
    html = _render(_warehouse(tmp_path / "none.duckdb", _marts(), provenance=None))
    assert "This warehouse has no ops.column_provenance" in html


def test_empty_marts_give_no_data_sections(tmp_path: Path) -> None:
    empty = {name: frame.iloc[0:0] for name, frame in _marts().items()}
    html = _render(_warehouse(tmp_path / "empty.duckdb", empty))
    parser = _parse(html)
    assert parser.empty == ["promotions", "stock"]
    assert parser.charts == {}
    assert "No approved promotion in marts.fct_promotion_summary" in html
    assert "No snapshot in marts.fct_stock_exposure" in html


def test_promotions_without_measured_lines_say_so(tmp_path: Path) -> None:
    marts = _marts()
    marts["fct_promotion_summary"] = marts["fct_promotion_summary"].tail(1)  # only P999, unmeasured
    marts["fct_promotion_profitability"] = marts["fct_promotion_profitability"].iloc[0:0]
    html = _render(_warehouse(tmp_path / "unmeasured.duckdb", marts))
    parser = _parse(html)
    assert parser.empty == ["promotions"]
    assert "1 approved promotions, none measured" in html
    assert "stock_risk_by_category" in parser.charts  # the stock section is unaffected


def test_missing_mart_is_named(tmp_path: Path) -> None:
    marts = _marts()
    del marts["fct_stock_exposure"]
    with pytest.raises(ReportError, match="marts.fct_stock_exposure"):
        _render(_warehouse(tmp_path / "missing.duckdb", marts))


def test_write_report_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_report("<p>old</p>", tmp_path)
    assert target.read_text(encoding="utf-8") == "<p>old</p>"

    def crash(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_report("<p>new</p>", tmp_path)
    assert target.read_text(encoding="utf-8") == "<p>old</p>"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left behind


@pytest.mark.usefixtures("dbt_manifest")
def test_asset_writes_the_report_into_the_bi_folder(tmp_path: Path) -> None:
    from dagster import DagsterInstance, materialize

    from orchestration.bi import BiSnapshotResource
    from orchestration.lib.bi_snapshot import publish_snapshot
    from orchestration.report import promotion_and_stock_report
    from orchestration.resources import WarehouseResource

    warehouse = _warehouse(tmp_path / "warehouse.duckdb", _marts())
    bi_dir = tmp_path / "bi"
    version = publish_snapshot(warehouse, bi_dir)
    result = materialize(
        [promotion_and_stock_report],
        resources={"warehouse": WarehouseResource(path=str(warehouse)), "bi": BiSnapshotResource(bi_dir=str(bi_dir))},
        instance=DagsterInstance.ephemeral(),
    )
    metadata = result.asset_materializations_for_node("bi__promotion_and_stock_report")[0].metadata
    report = bi_dir / "promotion_and_stock_report.html"
    assert metadata["report"].value == str(report)
    assert metadata["report_url"].value == report.as_uri()
    assert metadata["snapshot_version"].value == version.version_id
    assert metadata["promotions_charted"].value == 20
    assert metadata["stock_at_risk"].value == int(_latest_stock(_marts())["at_risk"].sum())
    html = report.read_text(encoding="utf-8")
    assert f"BI snapshot {version.version_id}" in html
    assert "on-hand stock (derived)" in html  # provenance read from the warehouse, beside the snapshot
