"""Horizontal bar charts as inline SVG: grouped, stacked, or diverging around zero.

Every bar carries the figure it draws, so a test (or a curious reader) can check the chart
against the mart: `<rect class="bar" data-chart=… data-series=… data-key=… data-value=…>`.
`data-value` is Python's shortest round-trip repr of the float. A missing value draws no bar
but an "n/a" text with the same data-series and data-key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 760
LABEL_WIDTH = 290
VALUE_ROOM = 76  # room beside a bar's end for its value label
LEGEND_HEIGHT = 24
AXIS_HEIGHT = 22
LABEL_CHARS = 38  # at 11 px, 38 characters fit in LABEL_WIDTH (Breakfast at the Frat ids are 33-40)


@dataclass(frozen=True)
class Series:
    """One measure drawn in a chart: `name` is its data-series, `label` its legend entry."""

    name: str
    label: str
    colour: str
    negative_colour: str | None = None


@dataclass(frozen=True)
class BarRow:
    """One row of bars: `key` is its data-key (a promotion id, a category, a location id)."""

    key: str
    label: str
    values: Mapping[str, float | None]


def bar_chart(
    chart_id: str,
    title: str,
    rows: Sequence[BarRow],
    series: Sequence[Series],
    value_format: Callable[[float], str],
    stacked: bool = False,
    tick_format: Callable[[float], str] | None = None,
) -> str:
    """An SVG bar chart, one row per `rows` entry, one bar (or stacked segment) per series;
    `value_format` labels the bars, `tick_format` (default: the same) the gridlines."""
    if not rows:
        raise ValueError(f"chart {chart_id} has no rows; render a no-data note instead")
    lo, hi = _extent(rows, series, stacked)
    has_negative = lo < 0
    x0 = LABEL_WIDTH + (VALUE_ROOM if has_negative else 8)
    x1 = WIDTH - VALUE_ROOM

    def x_of(value: float) -> float:
        return x0 + (value - lo) / (hi - lo) * (x1 - x0)

    bars_per_row = 1 if stacked else len(series)
    bar_height = 14 if bars_per_row == 1 else 10
    row_height = bars_per_row * bar_height + (bars_per_row - 1) * 2 + 8
    top = LEGEND_HEIGHT
    height = top + len(rows) * row_height + AXIS_HEIGHT
    title_id = f"{chart_id}-title"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(chart_id)}" '
        f'data-rows="{len(rows)}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-labelledby="{escape(title_id)}">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        _legend(series),
    ]
    zero = x_of(0.0)
    for tick in _ticks(lo, hi):
        x = x_of(tick)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - AXIS_HEIGHT}" '
            'stroke="#e3e6ea" stroke-width="1"/>'
            f'<text class="tick" x="{x:.1f}" y="{height - 6}" text-anchor="middle" font-size="11" '
            f'fill="#5b6470">{escape((tick_format or value_format)(tick))}</text>'
        )
    for index, row in enumerate(rows):
        y = top + index * row_height + 4
        label = row.label if len(row.label) <= LABEL_CHARS else row.label[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text class="row-label" x="{LABEL_WIDTH - 8}" y="{y + (row_height - 8) / 2 + 4:.1f}" '
            f'text-anchor="end" font-size="11" fill="#1d2330"><title>{escape(row.label)}</title>{escape(label)}</text>'
        )
        if stacked:
            parts += _stacked_row(chart_id, row, series, y, bar_height, x_of, value_format)
        else:
            for position, measure in enumerate(series):
                bar_y = y + position * (bar_height + 2)
                parts.append(_bar(chart_id, row, measure, bar_y, bar_height, x_of, zero, value_format))
    parts.append(
        f'<line class="zero" x1="{zero:.1f}" y1="{top}" x2="{zero:.1f}" y2="{height - AXIS_HEIGHT}" '
        'stroke="#5b6470" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _bar(chart_id, row: BarRow, measure: Series, y: float, bar_height: int, x_of, zero: float, value_format) -> str:
    value = row.values.get(measure.name)
    data = (
        f'data-chart="{escape(chart_id)}" data-series="{escape(measure.name)}" data-key="{escape(row.key)}"'
    )
    text_y = y + bar_height - 2
    if value is None:
        return (
            f'<text class="na" {data} x="{zero + 4:.1f}" y="{text_y:.1f}" font-size="11" fill="#5b6470">'
            f"n/a</text>"
        )
    end = x_of(value)
    left, width = min(zero, end), abs(end - zero)
    colour = measure.negative_colour if value < 0 and measure.negative_colour else measure.colour
    if value < 0:
        text = f'<text class="value" x="{left - 4:.1f}" y="{text_y:.1f}" text-anchor="end" '
    else:
        text = f'<text class="value" x="{left + width + 4:.1f}" y="{text_y:.1f}" '
    shown = value_format(value)
    return (
        f'<rect class="bar{" negative" if value < 0 else ""}" {data} data-value="{float(value)!r}" '
        f'x="{left:.2f}" y="{y:.1f}" width="{width:.2f}" height="{bar_height}" fill="{colour}">'
        f"<title>{escape(row.label)} — {escape(measure.label)}: {escape(shown)}</title></rect>"
        f'{text}font-size="11" fill="#1d2330">{escape(shown)}</text>'
    )


def _stacked_row(chart_id, row: BarRow, series, y: float, bar_height: int, x_of, value_format) -> list[str]:
    parts, running = [], 0.0
    for measure in series:
        value = row.values.get(measure.name) or 0.0
        left, right = x_of(running), x_of(running + value)
        parts.append(
            f'<rect class="bar segment" data-chart="{escape(chart_id)}" data-series="{escape(measure.name)}" '
            f'data-key="{escape(row.key)}" data-value="{float(value)!r}" x="{left:.2f}" y="{y:.1f}" '
            f'width="{right - left:.2f}" height="{bar_height}" fill="{measure.colour}">'
            f"<title>{escape(row.label)} — {escape(measure.label)}: {escape(value_format(value))}</title></rect>"
        )
        running += value
    parts.append(
        f'<text class="value" x="{x_of(running) + 4:.1f}" y="{y + bar_height - 2:.1f}" font-size="11" '
        f'fill="#1d2330">{escape(value_format(running))}</text>'
    )
    return parts


def _legend(series: Sequence[Series]) -> str:
    parts, x = [], LABEL_WIDTH
    for measure in series:
        parts.append(
            f'<rect class="legend-swatch" x="{x}" y="6" width="12" height="12" fill="{measure.colour}"/>'
            f'<text class="legend" x="{x + 16}" y="16" font-size="12" fill="#1d2330">{escape(measure.label)}</text>'
        )
        x += 28 + 7 * len(measure.label)
    return "".join(parts)


def _extent(rows: Sequence[BarRow], series: Sequence[Series], stacked: bool) -> tuple[float, float]:
    if stacked:
        values = [sum(row.values.get(s.name) or 0.0 for s in series) for row in rows]
    else:
        values = [v for row in rows for s in series if (v := row.values.get(s.name)) is not None]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    if hi == lo:
        hi = lo + 1.0
    return lo, hi


def _ticks(lo: float, hi: float, wanted: int = 4) -> list[float]:
    """Round-numbered gridlines between lo and hi (1, 2 or 5 × a power of ten apart)."""
    raw = (hi - lo) / wanted
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]
