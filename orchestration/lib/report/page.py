"""The report page: one HTML file with its CSS and SVG charts inline, no script, no external file."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterable, Sequence
from html import escape
from pathlib import Path

from orchestration.lib.report.charts import BarRow, Series, bar_chart
from orchestration.lib.report.data import (
    PromotionResult,
    ProvenanceEntry,
    ReportData,
    StockGroup,
    margin_ranking,
    roi_ranking,
    top_groups,
)

REPORT_FILE = "promotion_and_stock_report.html"
PROMOTIONS_PER_END = 10  # the margin and ROI rankings show the best and worst 10 when there are more than 20
LOCATIONS_SHOWN = 25

BLUE, GREY, GREEN, RED, AMBER, LIGHT = "#1f6fb2", "#a7b4c2", "#2e8b57", "#c0392b", "#d68910", "#cfd5dc"

# Inputs a reader should know the origin of, in the words the report uses for them.
PROMOTION_INPUTS = (
    ("erp/promotions", "promotion_id", "promotion records"),
    ("erp/promotions", "promo_price", "promotion prices"),
    ("erp/items", "unit_cost", "unit costs"),
    ("erp/items", "regular_price", "regular prices"),
    ("pos/sales", "units", "units sold"),
    ("pos/sales", "net_sales", "net sales"),
)
STOCK_INPUTS = (
    ("inventory/snapshots", "on_hand_units", "on-hand stock"),
    ("inventory/snapshots", "in_transit_units", "stock in transit"),
    ("inventory/snapshots", "on_order_units", "stock on order"),
    ("erp/items", "unit_cost", "unit costs"),
    ("erp/items", "lead_time_days", "supplier lead times"),
)

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: #1d2330;
       margin: 0; background: #f5f6f8; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 40px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 2px solid #e3e6ea; }
h3 { font-size: 15px; margin: 22px 0 4px; }
.meta, .caption, .note { color: #5b6470; font-size: 13px; margin: 2px 0 8px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; margin: 12px 0; }
.kpi { background: #f5f6f8; border-radius: 6px; padding: 8px 12px; }
.kpi .value { font-size: 20px; font-weight: 600; } .kpi .label { font-size: 12px; color: #5b6470; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 4px 0 4px; }
table { border-collapse: collapse; font-size: 12px; width: 100%; margin: 8px 0; }
th, td { padding: 3px 6px; border-bottom: 1px solid #e3e6ea; text-align: right; white-space: nowrap; }
.table-wrap { overflow-x: auto; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
.no-data { background: #fff7e6; border-left: 4px solid #d68910; padding: 10px 14px; margin: 12px 0; }
.derived { background: #fdf2f2; border-left: 4px solid #c0392b; padding: 6px 12px; font-size: 13px; }
footer { margin-top: 36px; padding-top: 10px; border-top: 2px solid #e3e6ea; font-size: 13px; }
footer td { text-align: left; white-space: normal; }
"""


def render_report(data: ReportData) -> str:
    """The whole report as one self-contained HTML document."""
    body = [
        "<h1>Promotion results and stock exposure</h1>",
        f'<p class="meta">Source: {escape(data.source or "marts")} · generated '
        f"{data.generated_at:%Y-%m-%d %H:%M} UTC</p>",
        _promotion_section(data),
        _stock_section(data),
        _footer(data),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Promotion results and stock exposure</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def write_report(html: str, folder: Path, name: str = REPORT_FILE) -> Path:
    """Write `html` to folder/name atomically: a reader sees the old report or the new one, whole."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    temporary = folder / f".{name}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


# --- promotions ---------------------------------------------------------------------------------


def _promotion_section(data: ReportData) -> str:
    parts = ['<section id="promotions">', "<h2>Promotion results: actual against baseline</h2>"]
    measured = data.measured_promotions
    if not data.promotions:
        return _no_data(parts, "promotions", "No approved promotion in marts.fct_promotion_summary: nothing to chart.")
    if not measured:
        return _no_data(
            parts, "promotions",
            f"{len(data.promotions)} approved promotions, none measured: no line has forecast history "
            "(marts.fct_promotion_profitability is empty).",
        )
    parts.append(_not_observed_note(data.provenance, PROMOTION_INPUTS))
    margins = [p.incremental_gross_margin for p in measured]
    with_roi = [p.roi for p in measured if p.roi is not None]
    parts.append(
        _kpis(
            [
                ("approved promotions", f"{len(data.promotions):,}"),
                ("measured promotions", f"{len(measured):,}"),
                ("incremental gross margin", _money(sum(margins))),
                ("incremental units", _units(sum(p.incremental_units for p in measured))),
                ("promotions adding margin", f"{sum(m > 0 for m in margins):,} of {len(measured):,}"),
                ("median ROI", _percent(statistics.median(with_roi)) if with_roi else "n/a"),
            ]
        )
    )
    parts.append(
        '<p class="note">Baseline = the demand model with the promotion switched off '
        "(forecast.demand_weekly.baseline_units, in-sample for past promotions): an estimate, not an "
        "observation. Incremental gross margin and ROI as in docs/marts.md.</p>"
    )
    ranked = margin_ranking(measured, PROMOTIONS_PER_END)
    shown = _shown_caption(len(ranked), len(measured), "measured promotions", "incremental gross margin", ends=True)
    parts += [
        "<h3>Incremental gross margin by promotion</h3>",
        f'<p class="caption">{shown}</p>',
        bar_chart(
            "promotion_margin", "Incremental gross margin by promotion",
            [BarRow(p.promotion_id, p.promotion_id, {"incremental_gross_margin": p.incremental_gross_margin})
             for p in ranked],
            [Series("incremental_gross_margin", "incremental gross margin", GREEN, RED)],
            _money, tick_format=_whole,
        ),
        "<h3>Actual and baseline units, same promotions</h3>",
        bar_chart(
            "promotion_units", "Actual and baseline units by promotion",
            [BarRow(p.promotion_id, p.promotion_id, {"actual_units": p.actual_units,
                                                     "baseline_units": p.baseline_units}) for p in ranked],
            [Series("actual_units", "actual units", BLUE), Series("baseline_units", "baseline units", GREY)],
            _units,
        ),
    ]
    by_roi = roi_ranking(measured, PROMOTIONS_PER_END)
    funded = sum(bool(p.is_fully_funded) for p in measured)
    parts.append("<h3>ROI ranking</h3>")
    if by_roi:
        shown = _shown_caption(len(by_roi), len(with_roi), "promotions with an ROI", "ROI", ends=True)
        parts += [
            f'<p class="caption">{shown} '
            f"ROI = (incremental gross margin + vendor funding − fixed costs) ÷ (discount cost + fixed costs); "
            f"{funded:,} fully funded promotions and {len(measured) - len(with_roi) - funded:,} with no discount "
            "cost have none.</p>",
            bar_chart(
                "promotion_roi", "ROI by promotion",
                [BarRow(p.promotion_id, p.promotion_id, {"roi": p.roi}) for p in by_roi],
                [Series("roi", "ROI", BLUE, RED)],
                _percent,
            ),
        ]
    else:
        parts.append('<p class="no-data" data-empty="promotion_roi">No measured promotion has an ROI '
                     "(all are fully funded or cost no discount).</p>")
    if data.promotion_categories:
        parts += [
            "<h3>Incremental gross margin by item category</h3>",
            '<p class="caption">Σ over the promotion lines (promotion × item × location) of each category, '
            "from marts.fct_promotion_profitability.</p>",
            bar_chart(
                "promotion_category_margin", "Incremental gross margin by item category",
                [BarRow(c.category, f"{c.category} ({c.lines:,} lines)",
                        {"incremental_gross_margin": c.incremental_gross_margin}) for c in data.promotion_categories],
                [Series("incremental_gross_margin", "incremental gross margin", GREEN, RED)],
                _money, tick_format=_whole,
            ),
        ]
    parts += ["<h3>The promotions charted</h3>", _promotion_table(ranked), "</section>"]
    return "\n".join(parts)


def _promotion_table(promotions: Sequence[PromotionResult]) -> str:
    header = ("promotion", "dates", "mechanic", "lines", "actual", "baseline", "lift", "incr. margin",
              "discount cost", "vendor funding", "ROI")
    rows = [
        (
            p.promotion_id, f"{p.start_date:%Y-%m-%d} – {p.end_date:%Y-%m-%d}", p.mechanic,
            f"{p.measured_lines}/{p.approved_lines}", _units(p.actual_units), _units(p.baseline_units),
            _percent(p.lift_pct), _money(p.incremental_gross_margin), _money(p.discount_cost),
            _money(p.vendor_funding), "funded" if p.is_fully_funded else _percent(p.roi),
        )
        for p in promotions
    ]
    return _table("promotions-table", header, rows, text_columns=3)


# --- stock --------------------------------------------------------------------------------------


def _stock_section(data: ReportData) -> str:
    parts = ['<section id="stock">', "<h2>Stock exposure: stock-out risk and excess</h2>"]
    if data.stock_snapshot_date is None:
        return _no_data(parts, "stock", "No snapshot in marts.fct_stock_exposure: nothing to chart.")
    groups = data.stock_by_location
    total = sum(g.item_locations for g in groups)
    parts += [
        f'<p class="meta">Latest snapshot date {data.stock_snapshot_date:%Y-%m-%d}: '
        f"{total:,} item × locations at {len(groups):,} locations.</p>",
        _not_observed_note(data.provenance, STOCK_INPUTS),
        _kpis(
            [
                ("item × locations", f"{total:,}"),
                ("at stock-out risk", f"{sum(g.at_risk for g in groups):,}"),
                ("risk unknown (no forecast)", f"{sum(g.risk_unknown for g in groups):,}"),
                ("on hand at cost", _money(sum(g.on_hand_at_cost for g in groups))),
                ("excess at cost", _money(sum(g.excess_at_cost for g in groups))),
                ("excess units", _units(sum(g.excess_units for g in groups))),
            ]
        ),
        '<p class="note">Stock-out risk: days of cover (on hand ÷ forecast daily demand) below lead time + '
        "review period. Excess: on hand beyond the forecast over that period plus safety stock. "
        "Both read the forecast.</p>",
    ]
    risk_series = [Series("at_risk", "at risk", RED), Series("not_at_risk", "not at risk", GREEN),
                   Series("risk_unknown", "unknown", LIGHT)]
    parts += [
        "<h3>Stock-out risk by category</h3>",
        '<p class="caption">Item × locations per category on the latest snapshot date.</p>',
        bar_chart("stock_risk_by_category", "Stock-out risk by category",
                  [_risk_row(g) for g in data.stock_by_category], risk_series, _count, stacked=True),
        "<h3>Excess stock at cost by category</h3>",
        bar_chart("stock_excess_by_category", "Excess stock at cost by category",
                  [BarRow(g.key, g.label, {"excess_at_cost": g.excess_at_cost}) for g in data.stock_by_category],
                  [Series("excess_at_cost", "excess at cost", AMBER)], _money, tick_format=_whole),
    ]
    by_risk = top_groups(groups, "at_risk", LOCATIONS_SHOWN)
    by_excess = top_groups(groups, "excess_at_cost", LOCATIONS_SHOWN)
    parts += [
        "<h3>Stock-out risk by location</h3>",
        f'<p class="caption">{_shown_caption(len(by_risk), len(groups), "locations", "item × locations at risk")}'
        "</p>",
        bar_chart("stock_risk_by_location", "Stock-out risk by location",
                  [_risk_row(g) for g in by_risk], risk_series, _count, stacked=True),
        "<h3>Excess stock at cost by location</h3>",
        f'<p class="caption">{_shown_caption(len(by_excess), len(groups), "locations", "excess at cost")}</p>',
        bar_chart("stock_excess_by_location", "Excess stock at cost by location",
                  [BarRow(g.key, g.label, {"excess_at_cost": g.excess_at_cost}) for g in by_excess],
                  [Series("excess_at_cost", "excess at cost", AMBER)], _money, tick_format=_whole),
        f"<details><summary>Every location ({len(groups):,})</summary>",
        _stock_table(groups),
        "</details>",
        "</section>",
    ]
    return "\n".join(parts)


def _risk_row(group: StockGroup) -> BarRow:
    return BarRow(group.key, group.label, {"at_risk": float(group.at_risk), "not_at_risk": float(group.not_at_risk),
                                           "risk_unknown": float(group.risk_unknown)})


def _stock_table(groups: Sequence[StockGroup]) -> str:
    header = ("location", "item × locations", "at risk", "unknown", "on hand at cost", "excess units",
              "excess at cost")
    rows = [
        (g.label, f"{g.item_locations:,}", f"{g.at_risk:,}", f"{g.risk_unknown:,}", _money(g.on_hand_at_cost),
         _units(g.excess_units), _money(g.excess_at_cost))
        for g in groups
    ]
    return _table("stock-table", header, rows, text_columns=1)


# --- provenance ---------------------------------------------------------------------------------


def _footer(data: ReportData) -> str:
    parts = ["<h2>Where these numbers come from</h2>"]
    provenance = data.provenance
    if provenance is None:
        parts.append('<p class="derived">This warehouse has no ops.column_provenance: whether costs and stock '
                     "are observed or derived by a rule is not recorded. Do not read them as observed.</p>")
        derived = []
    elif not provenance:
        parts.append('<p class="derived">No landing folder carried a provenance.json (ops.column_provenance is '
                     "empty): the origin of costs and stock is not recorded. Do not read them as observed.</p>")
        derived = []
    else:
        synthetic = {d for d in {e.dataset for e in provenance}
                     if all(e.origin == "synthetic" for e in provenance if e.dataset == d)}
        derived = [e for e in provenance if e.origin != "observed"]
        for dataset in sorted({e.dataset for e in provenance}):
            entries = [e for e in provenance if e.dataset == dataset]
            if all(e.origin == "synthetic" for e in entries):
                parts.append(f'<p class="derived">Dataset <b>{escape(dataset)}</b> is synthetic: every column was '
                             "made up by the project's generator, to a known promotion lift. Nothing here is a "
                             "real retailer's figure.</p>")
                continue
            key_inputs = _key_inputs(entries, (*PROMOTION_INPUTS, *STOCK_INPUTS))
            not_observed = [f"{label} ({origin})" for label, origin in key_inputs if origin != "observed"]
            observed = [label for label, origin in key_inputs if origin == "observed"]
            if not_observed:
                parts.append(
                    f'<p class="derived">Dataset <b>{escape(dataset)}</b>: {escape(", ".join(not_observed))} '
                    "are <b>not observed</b>; they were derived by documented rules (docs/derived_data.md, "
                    "rules below) because the source data has none. Figures built on them — costs, margins, "
                    "ROI, stock-out risk, excess — are estimates, not the retailer's books.</p>"
                )
            if observed:
                parts.append(f'<p class="note">Observed in the source: {escape(", ".join(observed))}.</p>')
        ruled = [e for e in derived if e.dataset not in synthetic]
        if ruled:
            parts.append(
                _table("provenance-table", ("dataset", "entity", "column", "origin", "rule"),
                       [(e.dataset, e.entity, e.column_name, e.origin, e.rule) for e in ruled], text_columns=5)
            )
    parts.append('<p class="note">Baselines, stock-out risk and excess come from the demand forecast '
                 "(forecast.demand_weekly, forecast.replenishment_targets): model estimates. "
                 f"Report generated {data.generated_at:%Y-%m-%d %H:%M} UTC from {escape(data.source or 'marts')}."
                 "</p>")
    columns = " ".join(sorted({f"{e.entity}.{e.column_name}" for e in derived}))
    return f'<footer id="provenance" data-not-observed="{escape(columns)}">\n' + "\n".join(parts) + "\n</footer>"


def _key_inputs(entries: Sequence[ProvenanceEntry], wanted: Iterable[tuple[str, str, str]]) -> list[tuple[str, str]]:
    origin = {(e.entity, e.column_name): e.origin for e in entries}
    seen, found = set(), []
    for entity, column, label in wanted:
        if (entity, column) in origin and label not in seen:
            seen.add(label)
            found.append((label, origin[(entity, column)]))
    return found


def _not_observed_note(provenance: Sequence[ProvenanceEntry] | None, wanted) -> str:
    if provenance is None or not provenance:
        return '<p class="derived">Origin of the inputs not recorded (see the footer).</p>'
    if all(e.origin == "synthetic" for e in provenance):
        return '<p class="derived">Synthetic data (see the footer).</p>'
    labels = [f"{label} ({origin})" for label, origin in _key_inputs(provenance, wanted) if origin != "observed"]
    if not labels:
        return ""
    return f'<p class="derived">Not observed: {escape(", ".join(labels))}. See the footer.</p>'


# --- small pieces -------------------------------------------------------------------------------


def _no_data(parts: list[str], section: str, message: str) -> str:
    parts += [f'<p class="no-data" data-empty="{section}">{escape(message)}</p>', "</section>"]
    return "\n".join(parts)


def _kpis(items: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f'<div class="kpi"><div class="value">{escape(value)}</div><div class="label">{escape(label)}</div></div>'
        for label, value in items
    )
    return f'<div class="kpis">{cells}</div>'


def _table(table_id: str, header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int) -> str:
    def cell(tag: str, index: int, value: str) -> str:
        css = ' class="text"' if index < text_columns else ""
        return f"<{tag}{css}>{escape(str(value))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "\n".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return (f'<div class="table-wrap"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n'
            "</tbody></table></div>")


def _shown_caption(shown: int, total: int, what: str, measure: str, ends: bool = False) -> str:
    """Say how many of the rows a chart shows: all, both ends of a ranking, or the top."""
    if shown == total:
        return f"All {total:,} {what}, by {measure}."
    if ends:
        return f"The best {shown // 2:,} and the worst {shown // 2:,} of {total:,} {what}, by {measure}."
    return f"The {shown:,} of {total:,} {what} with the largest {measure}."


def _formatter(body: Callable[[float], str]) -> Callable[[float | None], str]:
    return lambda value: "n/a" if value is None else body(value)


_money = _formatter(lambda v: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}")
_units = _formatter(lambda v: f"{v:,.0f}")
_count = _formatter(lambda v: f"{v:,.0f}")
_percent = _formatter(lambda v: f"{v * 100:,.0f}%")
_whole = _formatter(lambda v: f"{v:,.0f}")
