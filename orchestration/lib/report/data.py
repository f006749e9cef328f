"""What the report shows, read from the marts: promotion results and stock exposure on the latest
snapshot date, plus which of the inputs are observed and which a rule derived."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb

REQUIRED_MARTS = ("fct_promotion_summary", "fct_promotion_profitability", "fct_stock_exposure", "dim_item",
                  "dim_location")


class ReportError(RuntimeError):
    """The marts the report reads are not there."""


@dataclass(frozen=True)
class PromotionResult:
    """One approved promotion from marts.fct_promotion_summary (measures NULL when no line was measured)."""

    promotion_id: str
    start_date: date
    end_date: date
    mechanic: str
    approved_lines: int
    measured_lines: int
    actual_units: float | None
    baseline_units: float | None
    incremental_units: float | None
    lift_pct: float | None
    incremental_gross_margin: float | None
    discount_cost: float | None
    vendor_funding: float | None
    roi: float | None
    is_fully_funded: bool | None

    @property
    def is_measured(self) -> bool:
        return self.actual_units is not None


@dataclass(frozen=True)
class CategoryPromotionResult:
    """Promotion lines of one item category, summed from marts.fct_promotion_profitability."""

    category: str
    lines: int
    actual_units: float
    baseline_units: float
    incremental_gross_margin: float


@dataclass(frozen=True)
class StockGroup:
    """Item × locations of one category or one location on the latest snapshot date."""

    key: str
    label: str
    item_locations: int
    at_risk: int
    risk_unknown: int
    excess_units: float
    excess_at_cost: float
    on_hand_at_cost: float

    @property
    def not_at_risk(self) -> int:
        return self.item_locations - self.at_risk - self.risk_unknown


@dataclass(frozen=True)
class ProvenanceEntry:
    """One landed column and whether it was observed, derived by a rule, or synthetic."""

    dataset: str
    entity: str
    column_name: str
    origin: str
    rule: str


@dataclass(frozen=True)
class ReportData:
    promotions: list[PromotionResult]
    promotion_categories: list[CategoryPromotionResult]
    stock_snapshot_date: date | None
    stock_by_category: list[StockGroup]
    stock_by_location: list[StockGroup]
    provenance: list[ProvenanceEntry] | None  # None: the warehouse has no ops.column_provenance
    source: str
    generated_at: datetime

    @property
    def measured_promotions(self) -> list[PromotionResult]:
        return [p for p in self.promotions if p.is_measured]


def load_report_data(
    con: duckdb.DuckDBPyConnection,
    marts: str = "marts",
    ops: str | None = "ops",
    source: str = "",
    generated_at: datetime | None = None,
) -> ReportData:
    """Read the report's figures; `marts` / `ops` are the (possibly catalog-qualified) schemas."""
    _require_marts(con, marts)
    promotions = [
        PromotionResult(*row[:6], *(_float(v) for v in row[6:14]), row[14])
        for row in con.execute(
            f"""
            select promotion_id, start_date, end_date, mechanic, approved_lines, measured_lines,
                   actual_units, baseline_units, incremental_units, lift_pct, incremental_gross_margin,
                   discount_cost, vendor_funding, roi, is_fully_funded
            from {marts}.fct_promotion_summary
            order by promotion_id
            """
        ).fetchall()
    ]
    categories = [
        CategoryPromotionResult(row[0], row[1], *(float(v) for v in row[2:]))
        for row in con.execute(
            f"""
            select coalesce(i.category, 'unknown') as category, count(*) as lines,
                   coalesce(sum(p.actual_units), 0), coalesce(sum(p.baseline_units), 0),
                   coalesce(sum(p.incremental_gross_margin), 0)
            from {marts}.fct_promotion_profitability as p
            left join {marts}.dim_item as i on i.item_id = p.item_id
            group by 1
            order by 1
            """
        ).fetchall()
    ]
    snapshot_date = con.execute(
        f"select max(snapshot_date) from {marts}.fct_stock_exposure where is_latest_snapshot_date"
    ).fetchone()[0]
    by_category = _stock_groups(con, marts, "coalesce(i.category, 'unknown')", "coalesce(i.category, 'unknown')")
    by_location = _stock_groups(
        con, marts, "s.location_id",
        "case when l.location_name is null or l.location_name = s.location_id then s.location_id "
        "else s.location_id || ' ' || l.location_name end",
    )
    return ReportData(
        promotions=promotions,
        promotion_categories=categories,
        stock_snapshot_date=snapshot_date,
        stock_by_category=by_category,
        stock_by_location=by_location,
        provenance=_provenance(con, ops) if ops else None,
        source=source,
        generated_at=generated_at or datetime.now(UTC),
    )


def margin_ranking(promotions: Sequence[PromotionResult], per_end: int = 10) -> list[PromotionResult]:
    """Measured promotions by incremental gross margin, best first: all of them, or the best and
    the worst `per_end` when there are more than twice that."""
    ranked = sorted(
        (p for p in promotions if p.incremental_gross_margin is not None),
        key=lambda p: (-p.incremental_gross_margin, p.promotion_id),
    )
    return _ends(ranked, per_end)


def roi_ranking(promotions: Sequence[PromotionResult], per_end: int = 10) -> list[PromotionResult]:
    """Promotions with an ROI (not fully funded, discount cost > 0), best first; ends as above."""
    ranked = sorted((p for p in promotions if p.roi is not None), key=lambda p: (-p.roi, p.promotion_id))
    return _ends(ranked, per_end)


def top_groups(groups: Sequence[StockGroup], measure: str, limit: int) -> list[StockGroup]:
    """The `limit` groups with the largest `measure` (ties: by key), largest first."""
    return sorted(groups, key=lambda g: (-getattr(g, measure), g.key))[:limit]


def _ends(ranked: list[PromotionResult], per_end: int) -> list[PromotionResult]:
    if len(ranked) <= 2 * per_end:
        return ranked
    return ranked[:per_end] + ranked[-per_end:]


def _stock_groups(con: duckdb.DuckDBPyConnection, marts: str, key_sql: str, label_sql: str) -> list[StockGroup]:
    rows = con.execute(
        f"""
        select {key_sql} as group_key, min({label_sql}) as label, count(*) as item_locations,
               count(*) filter (where s.stockout_risk) as at_risk,
               count(*) filter (where s.stockout_risk is null) as risk_unknown,
               coalesce(sum(s.excess_units), 0), coalesce(sum(s.excess_at_cost), 0),
               coalesce(sum(s.on_hand_at_cost), 0)
        from {marts}.fct_stock_exposure as s
        left join {marts}.dim_item as i on i.item_id = s.item_id
        left join {marts}.dim_location as l on l.location_id = s.location_id
        where s.is_latest_snapshot_date
        group by 1
        order by 1
        """
    ).fetchall()
    return [StockGroup(row[0], row[1], row[2], row[3], row[4], *(float(v) for v in row[5:])) for row in rows]


def _provenance(con: duckdb.DuckDBPyConnection, ops: str) -> list[ProvenanceEntry] | None:
    catalog, _, schema = ops.rpartition(".")
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'column_provenance'"
        + (" and table_catalog = ?" if catalog else ""),
        [schema, catalog] if catalog else [schema],
    ).fetchone()[0]
    if not found:
        return None
    rows = con.execute(
        f"select dataset, entity, column_name, origin, rule from {ops}.column_provenance "
        "order by dataset, entity, column_name"
    ).fetchall()
    return [ProvenanceEntry(*row) for row in rows]


def _require_marts(con: duckdb.DuckDBPyConnection, marts: str) -> None:
    catalog, _, schema = marts.rpartition(".")
    present = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ?"
            + (" and table_catalog = ?" if catalog else ""),
            [schema, catalog] if catalog else [schema],
        ).fetchall()
    }
    missing = [name for name in REQUIRED_MARTS if name not in present]
    if missing:
        raise ReportError(f"the report needs {', '.join(f'{marts}.{name}' for name in missing)}, which do not exist")


def _float(value) -> float | None:
    return None if value is None else float(value)
