"""Great Expectations suites, one per raw entity, as plain data (GX is imported only to run them).

Two severities:

- **critical**: what the loader promises about `raw.*` (required values present, keys unique per
  extract date, allowed values, minimums and maximums, row rules). A failure means the warehouse
  cannot be trusted; the check is blocking, so downstream dbt does not run.
- **warning**: messy but real data that is loaded and flagged (DESIGN §3): negative on-hand,
  net returns, a promotion price above the regular price, cost above price, absurd quantities.

A suite validates the rows one load added (`_load_id`), or the whole table when no load is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ingestion.contract import (
    ECOM_ORDERS,
    ECOM_PRICES,
    ENTITIES,
    INTEGER,
    ITEMS,
    PROMOTIONS,
    PURCHASE_ORDERS,
    RECEIPTS,
    SALES,
    SNAPSHOTS,
    Entity,
)

CRITICAL = "critical"
WARNING = "warning"

# Soft limits: a single row above them is almost certainly a keying or unit-of-measure error
# (a case keyed as units, a price keyed as a quantity), but the row is real data and stays.
ABSURD_UNITS_PER_ROW = 10_000
ABSURD_ON_HAND_UNITS = 100_000
ABSURD_ORDER_LINE_UNITS = 1_000


@dataclass(frozen=True)
class ExpectationSpec:
    """One GX expectation: its class name in `great_expectations.expectations`, arguments, severity, why."""

    expectation: str
    kwargs: dict[str, Any]
    severity: str
    description: str

    @property
    def columns(self) -> str:
        names = [self.kwargs[k] for k in ("column", "column_A", "column_B") if k in self.kwargs]
        names += self.kwargs.get("column_list", [])
        return ", ".join(names)


@dataclass(frozen=True)
class EntitySuite:
    entity: Entity
    expectations: tuple[ExpectationSpec, ...]
    # Extra columns for the batch (SQL over the raw table aliased r), e.g. the item's regular price.
    context_columns: dict[str, str] = field(default_factory=dict)
    joins: str = ""

    @property
    def name(self) -> str:
        return f"raw.{self.entity.name}"

    def batch_sql(self, load_id: str | None) -> tuple[str, list[Any]]:
        """The rows to validate: the columns as loaded, allowed-value columns lower-cased, context columns."""
        columns = []
        for column in self.entity.columns:
            if column.allowed and column.type != INTEGER:
                columns.append(f'lower(trim(r."{column.name}")) as "{column.name}"')
            elif column.type.startswith("DECIMAL"):
                columns.append(f'cast(r."{column.name}" as double) as "{column.name}"')
            else:
                columns.append(f'r."{column.name}"')
        columns += ["r._file", "r._extract_date", "r._row_number"]
        columns += [f"{sql} as {name}" for name, sql in self.context_columns.items()]
        where, params = ("where r._load_id = ?", [load_id]) if load_id is not None else ("", [])
        return f"select {', '.join(columns)} from raw.{self.entity.name} r {self.joins} {where}", params


def _contract_expectations(entity: Entity) -> list[ExpectationSpec]:
    """The loader's promises, as critical expectations."""
    specs = []
    for column in entity.columns:
        if column.required:
            specs.append(ExpectationSpec("ExpectColumnValuesToNotBeNull", {"column": column.name}, CRITICAL,
                                         f"{column.name} is required"))
        if column.allowed:
            values = [int(v) for v in column.allowed] if column.type == INTEGER else list(column.allowed)
            specs.append(ExpectationSpec("ExpectColumnValuesToBeInSet", {"column": column.name, "value_set": values},
                                         CRITICAL, f"{column.name} is one of {', '.join(column.allowed)}"))
        if column.minimum is not None or column.maximum is not None:
            bounds = {"min_value": column.minimum, "max_value": column.maximum}
            specs.append(ExpectationSpec(
                "ExpectColumnValuesToBeBetween", {"column": column.name, **{k: v for k, v in bounds.items()
                                                                            if v is not None}},
                CRITICAL, f"{column.name} within the contract's bounds"))
    specs.append(ExpectationSpec(
        "ExpectCompoundColumnsToBeUnique", {"column_list": [*entity.key, "_extract_date"]}, CRITICAL,
        f"({', '.join(entity.key)}) unique within each extract date"))
    specs.append(ExpectationSpec("ExpectColumnValuesToNotBeNull", {"column": "_row_number"}, CRITICAL,
                                 "every row knows its line in the landed file"))
    return specs


def _pair(a: str, b: str, severity: str, description: str) -> ExpectationSpec:
    """Column a >= column b where both are present."""
    return ExpectationSpec("ExpectColumnPairValuesAToBeGreaterThanB",
                           {"column_A": a, "column_B": b, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
                           severity, description)


def _at_most(column: str, limit: float, description: str) -> ExpectationSpec:
    return ExpectationSpec("ExpectColumnValuesToBeBetween", {"column": column, "max_value": limit}, WARNING,
                           description)


def _at_least_zero(column: str, description: str) -> ExpectationSpec:
    return ExpectationSpec("ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0}, WARNING, description)


_LATEST_REGULAR_PRICE = (
    "left join (select trim(item_id) as item_id, arg_max(cast(regular_price as double), _extract_date) as price "
    "from raw.erp__items group by 1) items on items.item_id = r.item_id"
)

_WARNINGS: dict[str, list[ExpectationSpec]] = {
    ITEMS.path: [_pair("regular_price", "unit_cost", WARNING, "an item costs more than it sells for")],
    PROMOTIONS.path: [_pair("regular_price", "promo_price", WARNING,
                            "the promotion price is above the item's regular price")],
    PURCHASE_ORDERS.path: [
        _pair("expected_date", "order_date", WARNING, "expected before it was ordered"),
        _pair("ordered_units", "received_units", WARNING, "more received than ordered"),
        _at_most("ordered_units", ABSURD_UNITS_PER_ROW, "an absurd order quantity"),
    ],
    SALES.path: [
        _at_least_zero("units", "net returns: negative units sold"),
        _at_most("units", ABSURD_UNITS_PER_ROW, "an absurd quantity sold in one row"),
        _at_least_zero("discount_amount", "a negative discount"),
    ],
    ECOM_ORDERS.path: [_at_most("units", ABSURD_ORDER_LINE_UNITS, "an absurd quantity on one order line")],
    ECOM_PRICES.path: [ExpectationSpec("ExpectColumnValuesToBeBetween",
                                       {"column": "web_price", "min_value": 0, "strict_min": True}, WARNING,
                                       "a web price of zero")],
    SNAPSHOTS.path: [
        _at_least_zero("on_hand_units", "negative on-hand: a bookkeeping lag"),
        _at_most("on_hand_units", ABSURD_ON_HAND_UNITS, "an absurd on-hand quantity"),
    ],
    RECEIPTS.path: [_at_most("units", ABSURD_UNITS_PER_ROW, "an absurd quantity received")],
}

_CONTEXT: dict[str, tuple[dict[str, str], str]] = {
    PROMOTIONS.path: ({"regular_price": "items.price"}, _LATEST_REGULAR_PRICE),
}


def suite_for(entity: Entity) -> EntitySuite:
    """The suite of one raw entity."""
    expectations = _contract_expectations(entity)
    for rule in entity.row_rules:
        comparison = re.fullmatch(r"(\w+) >= (\w+)", rule.sql)
        if comparison:
            expectations.append(_pair(comparison[1], comparison[2], CRITICAL, f"not: {rule.reason}"))
    expectations += _WARNINGS.get(entity.path, [])
    context_columns, joins = _CONTEXT.get(entity.path, ({}, ""))
    return EntitySuite(entity, tuple(expectations), context_columns, joins)


SUITES: dict[str, EntitySuite] = {entity.path: suite_for(entity) for entity in ENTITIES}
