"""What the asset catalog shows about a built relation: rows, columns as built, and the marts' key figures.

Read from the warehouse after dbt has finished (DuckDB has one writer: dagster-dbt's own row-count
and column fetchers would query it while the dbt process holds it, and through the manifest's
relation names, which carry the catalog of the file parsed, not of the file built).
Ratios follow the marts' rule: Σ numerator ÷ Σ denominator, never an average of ratios.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import duckdb

# Per mart: metadata name → SQL expression over the table (one row). Names say what a finance or
# planning reader would call the figure; the mart's docs (docs/marts.md) give the formulas.
KEY_FIGURES: dict[str, dict[str, str]] = {
    "fct_promotion_summary": {
        "promotions": "count(*)",
        "incremental_gross_margin": "sum(incremental_gross_margin)",
        "discount_cost": "sum(discount_cost)",
        "roi": "sum(roi_numerator) / nullif(sum(roi_denominator), 0)",
        "lift_pct": "100 * sum(incremental_units) / nullif(sum(baseline_units), 0)",
    },
    "fct_promotion_profitability": {
        "promotion_lines": "count(*)",
        "incremental_gross_margin": "sum(incremental_gross_margin)",
        "incremental_units": "sum(incremental_units)",
        "discount_cost": "sum(discount_cost)",
        "roi": "sum(roi_numerator) / nullif(sum(roi_denominator), 0)",
    },
    "fct_sell_through": {
        "last_week_end_date": "max(week_end_date)",
        "net_sales": "sum(net_sales)",
        "gross_margin": "sum(gross_margin)",
        "sell_through_rate": "sum(sell_through_numerator) / nullif(sum(sell_through_denominator), 0)",
    },
    "fct_stock_exposure": {
        "latest_snapshot_date": "max(snapshot_date) filter (where is_latest_snapshot_date)",
        "inventory_position_at_cost": "sum(inventory_position_at_cost) filter (where is_latest_snapshot_date)",
        "excess_at_cost": "sum(excess_at_cost) filter (where is_latest_snapshot_date)",
        "lines_at_stockout_risk": "count(*) filter (where is_latest_snapshot_date and stockout_risk)",
    },
    "fct_promotion_execution": {
        "price_compliance_rate": "sum(price_compliance_numerator) / nullif(sum(price_compliance_denominator), 0)",
        "lines_with_margin_erosion": "count(*) filter (where has_margin_erosion)",
    },
    "fct_exceptions": {
        "open_exceptions": "count(*) filter (where is_open)",
    },
}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plain(value):
    """A value Dagster metadata can hold: Decimal → float (rounded), dates → ISO text, NULL → None."""
    if isinstance(value, Decimal):
        return round(float(value), 4)
    if isinstance(value, float):
        return round(value, 4)
    if value is None or isinstance(value, (int, str, bool)):
        return value
    return str(value)


def built_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a built table or view, in column order."""
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()


def row_count(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    return con.execute(f"select count(*) from {_quoted(schema)}.{_quoted(table)}").fetchone()[0]


def key_figures(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, object]:
    """The key figures of `table` (KEY_FIGURES), or nothing for a table without any."""
    figures: Mapping[str, str] = KEY_FIGURES.get(table, {}) if schema == "marts" else {}
    if not figures:
        return {}
    select = ", ".join(f"{expression} as {_quoted(name)}" for name, expression in figures.items())
    values = con.execute(f"select {select} from {_quoted(schema)}.{_quoted(table)}").fetchone()
    return {name: _plain(value) for name, value in zip(figures, values, strict=True)}
