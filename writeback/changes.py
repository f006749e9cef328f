"""What a writeback sends: absolute target values keyed by (item, location, target type, effective date).

`read_proposals` turns the forecast tables into one row per business key; `plan_changes` decides,
for each, whether it goes out now, waits in the review queue, or is already in force. Both are
plain functions of their inputs: no Dagster, no target.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import pandas as pd

from writeback.settings import Thresholds, WritebackError

KEY_COLUMNS = ("item_id", "location_id", "target_type", "effective_date")

REPLENISHMENT_TYPES = ("safety_stock_units", "reorder_point_units", "order_up_to_units", "suggested_order_units")
UPLIFT_TYPE = "uplift_units"
FAMILIES: dict[str, tuple[str, ...]] = {
    "replenishment_targets": REPLENISHMENT_TYPES,
    "promotion_uplift": (UPLIFT_TYPE,),
}
FAMILY_OF = {target_type: family for family, types in FAMILIES.items() for target_type in types}
# A replenishment parameter stays in force until a later effective date replaces it, so a new
# date is compared with the value in force; an uplift belongs to one promotion and is compared
# only with the value written for that same promotion start.
CARRIED_FORWARD = frozenset(REPLENISHMENT_TYPES)

Key = tuple[str, str, str, date]


class WritebackInputError(WritebackError, ValueError):
    """The forecast tables hold something that cannot be written (an infinite value, a duplicate key)."""


@dataclass
class ForecastProposals:
    """What the forecast proposes, and the keys it has no value for (NULL: nothing is sent for them)."""

    values: list[Proposal]
    without_value: list[str]


@dataclass(frozen=True)
class Proposal:
    """One absolute value the forecast wants in the ERP, with what is needed to judge and render it."""

    key: Key
    value: float
    unit_cost: float | None
    promotion_id: str | None = None
    end_date: date | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class Review:
    """A row of writeback.review_queue, as the planner needs it."""

    review_id: int
    key: Key
    new_value: float
    status: str
    promotion_id: str | None = None
    end_date: date | None = None
    model_version: str | None = None
    origin: str = "scheduled"           # scheduled | rollback (a compensating change held by the thresholds)


@dataclass(frozen=True)
class Write:
    """A value going out in this batch; `decision` is auto, approved or rollback."""

    key: Key
    value: float
    old_value: float | None
    decision: str
    promotion_id: str | None = None
    end_date: date | None = None
    model_version: str | None = None
    review_id: int | None = None


@dataclass(frozen=True)
class Hold:
    """A change beyond a threshold: it waits in the review queue."""

    key: Key
    new_value: float
    old_value: float | None
    change_pct: float | None
    change_at_cost: float | None
    reason: str
    promotion_id: str | None = None
    end_date: date | None = None
    model_version: str | None = None


@dataclass
class Plan:
    """The outcome of comparing proposals with what is in force and in the review queue."""

    writes: list[Write] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    superseded: list[Review] = field(default_factory=list)
    unchanged: int = 0
    still_pending: int = 0
    suppressed: int = 0


def canonical_value(value: float) -> float:
    """Values are compared and written with 10 significant digits, so float noise is not a change."""
    return float(format(float(value), ".10g"))


def format_value(value: float) -> str:
    """The text of a value in files and digests: 10 significant digits, no exponent for ordinary sizes."""
    return format(canonical_value(value), ".10g")


def read_proposals(con: duckdb.DuckDBPyConnection, families: Sequence[str]) -> ForecastProposals:
    """Every business key the forecast proposes for `families`, validated.

    A NULL value is no proposal (e.g. no suggested order where the inventory position is unknown):
    nothing is sent for that key and it is listed in `without_value`. An infinite value, a NULL
    effective date or a key proposed twice is an error, and nothing is written.
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise WritebackInputError(f"unknown target families {unknown}; known: {sorted(FAMILIES)}")
    proposals: list[Proposal] = []
    without_value: list[str] = []
    if "replenishment_targets" in families:
        frame = con.execute(
            """select t.item_id, t.location_id, t.as_of_date as effective_date, i.unit_cost::double as unit_cost,
                      t.model_version, t.safety_stock_units, t.reorder_point_units, t.order_up_to_units,
                      t.suggested_order_units
               from forecast.replenishment_targets t
               left join marts.dim_item i on i.item_id = t.item_id
               order by t.item_id, t.location_id, t.as_of_date"""
        )
        proposals += _long(frame, "forecast.replenishment_targets", REPLENISHMENT_TYPES, _target_label,
                           without_value)
    if "promotion_uplift" in families:
        # Only promotions still approved in the ERP extract: an unapproved one gets no uplift written.
        # The value takes effect on the promotion's own start date, as the ERP knows it: the
        # forecast's start_date is the first day of its first forecast week, which two short
        # promotions in one week share (FreshRetailNet's daily promotions).
        frame = con.execute(
            """select u.promotion_id, u.item_id, u.location_id, p.start_date as effective_date, p.end_date,
                      i.unit_cost::double as unit_cost, u.model_version, u.uplift_units
               from forecast.promotion_uplift u
               join staging.stg_erp__promotions p
                 on p.promotion_id = u.promotion_id and p.item_id = u.item_id and p.location_id = u.location_id
               left join marts.dim_item i on i.item_id = u.item_id
               where p.is_approved
               order by u.item_id, u.location_id, p.start_date, u.promotion_id"""
        )
        proposals += _long(frame, "forecast.promotion_uplift", (UPLIFT_TYPE,), _uplift_label, without_value)
    _check_unique(proposals)
    return ForecastProposals(proposals, without_value)


def _target_label(row: dict) -> str:
    return f"item {row['item_id']!r}, location {row['location_id']!r}, as_of_date {_as_date(row['effective_date'])}"


def _uplift_label(row: dict) -> str:
    return f"promotion {row['promotion_id']!r}, item {row['item_id']!r}, location {row['location_id']!r}"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _long(
    result: duckdb.DuckDBPyConnection, table: str, value_columns: Iterable[str], row_label, without_value: list[str]
) -> list[Proposal]:
    """One Proposal per (row, value column); `result` is an executed query (rows read with fetchall)."""
    out: list[Proposal] = []
    problems: list[str] = []
    names = [d[0] for d in result.description]
    for values in result.fetchall():
        row = dict(zip(names, values, strict=True))
        effective = _as_date(row["effective_date"])
        if effective is None:
            problems.append(f"{table} ({row_label(row)}): the effective date is NULL, expected a date")
            continue
        unit_cost = row.get("unit_cost")
        unit_cost = None if _is_missing(unit_cost) else float(unit_cost)
        for column in value_columns:
            value = row[column]
            if _is_missing(value):
                without_value.append(f"{table} ({row_label(row)}): {column} is NULL")
                continue
            if not math.isfinite(float(value)):
                problems.append(f"{table} ({row_label(row)}): column {column!r} is {value!r}, expected a number")
                continue
            out.append(Proposal(
                key=(str(row["item_id"]), str(row["location_id"]), column, effective),
                value=canonical_value(value),
                unit_cost=unit_cost,
                promotion_id=row.get("promotion_id"),
                end_date=_as_date(row.get("end_date")),
                model_version=row.get("model_version"),
            ))
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise WritebackInputError(f"{len(problems)} value(s) cannot be written; nothing was written:\n  {shown}{more}")
    return out


def _check_unique(proposals: Sequence[Proposal]) -> None:
    seen: dict[Key, Proposal] = {}
    for proposal in proposals:
        earlier = seen.get(proposal.key)
        if earlier is not None:
            raise WritebackInputError(
                f"business key (item {proposal.key[0]!r}, location {proposal.key[1]!r}, {proposal.key[2]}, "
                f"effective {proposal.key[3]}) appears twice (promotions {earlier.promotion_id!r} and "
                f"{proposal.promotion_id!r}); the ERP holds one value per key, nothing was written"
            )
        seen[proposal.key] = proposal


def _as_date(value: object) -> date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return pd.Timestamp(value).date()


def judge_change(
    new_value: float, old_value: float | None, unit_cost: float | None, thresholds: Thresholds
) -> tuple[float | None, float | None, str | None]:
    """(change %, change at cost, reason to hold or None) for one key.

    Percent is |new − old| ÷ |old| × 100 and applies only when a non-zero value is in force;
    at cost is |new − old| × unit cost, with old = 0 when nothing is in force yet.
    """
    baseline = 0.0 if old_value is None else old_value
    difference = abs(new_value - baseline)
    change_pct = difference / abs(old_value) * 100 if old_value not in (None, 0.0) else None
    change_at_cost = difference * unit_cost if unit_cost is not None else None
    reasons = []
    if change_pct is not None and change_pct > thresholds.max_change_pct:
        reasons.append(f"change {change_pct:.1f}% > {thresholds.max_change_pct:g}%")
    if change_at_cost is None:
        if difference > 0:
            reasons.append("no unit cost to value the change at cost")
    elif change_at_cost > thresholds.max_change_at_cost:
        reasons.append(f"change at cost {change_at_cost:.2f} > {thresholds.max_change_at_cost:g}")
    return change_pct, change_at_cost, ("; ".join(reasons) or None)


def plan_changes(
    proposals: Sequence[Proposal],
    in_force: dict[Key, float | None],
    open_reviews: Sequence[Review],
    declined: set[tuple[Key, float]],
    thresholds: Thresholds,
) -> Plan:
    """Decide, per key, what this batch does. Approved reviews go out first and win over a proposal.

    - an approved review goes out as approved, whatever the forecast now says (a person decided);
    - a key with a pending rollback review is left alone: a person asked to undo its value, and the
      forecast waits for that decision (a rollback review is never superseded by a run);
    - a proposal equal to the value in force changes nothing (a pending review for the key is superseded);
    - a proposal equal to a value rejected in review or undone by a rollback is not sent again;
    - a proposal equal to a pending review's value keeps waiting; a different one supersedes it;
    - otherwise it goes out when within both thresholds, or waits in the review queue.
    """
    plan = Plan()
    approved: dict[Key, Review] = {}
    pending: dict[Key, Review] = {}
    for review in open_reviews:
        # One open review per key is the rule; should there be two, a rollback review wins.
        chosen = approved if review.status == "approved" else pending if review.status == "pending" else None
        if chosen is not None and (review.key not in chosen or review.origin == "rollback"):
            chosen[review.key] = review
    for review in approved.values():
        plan.writes.append(Write(
            key=review.key, value=review.new_value, old_value=in_force.get(review.key), decision="approved",
            promotion_id=review.promotion_id, end_date=review.end_date, model_version=review.model_version,
            review_id=review.review_id,
        ))
    for proposal in proposals:
        if proposal.key in approved:
            continue
        old_value = in_force.get(proposal.key)
        waiting = pending.get(proposal.key)
        if waiting is not None and waiting.origin == "rollback":
            plan.still_pending += 1
            continue
        if old_value is not None and proposal.value == old_value:
            plan.unchanged += 1
            if waiting is not None:
                plan.superseded.append(waiting)
            continue
        if (proposal.key, proposal.value) in declined:
            plan.suppressed += 1
            if waiting is not None and waiting.new_value != proposal.value:
                plan.superseded.append(waiting)
            continue
        if waiting is not None:
            if waiting.new_value == proposal.value:
                plan.still_pending += 1
                continue
            plan.superseded.append(waiting)
        change_pct, change_at_cost, reason = judge_change(proposal.value, old_value, proposal.unit_cost, thresholds)
        if reason is None:
            plan.writes.append(Write(
                key=proposal.key, value=proposal.value, old_value=old_value, decision="auto",
                promotion_id=proposal.promotion_id, end_date=proposal.end_date, model_version=proposal.model_version,
            ))
        else:
            plan.holds.append(Hold(
                key=proposal.key, new_value=proposal.value, old_value=old_value, change_pct=change_pct,
                change_at_cost=change_at_cost, reason=reason, promotion_id=proposal.promotion_id,
                end_date=proposal.end_date, model_version=proposal.model_version,
            ))
    return plan


def approved_promotions_with_uplift(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Promotions approved in the ERP extract that have an uplift forecast, sorted."""
    rows = con.execute(
        """select distinct u.promotion_id
           from forecast.promotion_uplift u
           join staging.stg_erp__promotions p
             on p.promotion_id = u.promotion_id and p.item_id = u.item_id and p.location_id = u.location_id
           where p.is_approved
           order by 1"""
    ).fetchall()
    return [r[0] for r in rows]


def approved_promotions_fingerprint(warehouse: str) -> tuple[str, int] | None:
    """(fingerprint, count) of the approved promotions with uplift; None while the warehouse cannot be read."""
    try:
        with duckdb.connect(warehouse, read_only=True) as con:
            promotion_ids = approved_promotions_with_uplift(con)
    except (duckdb.IOException, duckdb.CatalogException):
        return None
    return promotion_set_cursor(promotion_ids), len(promotion_ids)


def promotion_set_cursor(promotion_ids: list[str]) -> str:
    """A short, stable fingerprint of a set of promotion ids (the sensor's cursor and run key)."""
    digest = hashlib.sha256("\n".join(sorted(promotion_ids)).encode()).hexdigest()[:16]
    return f"{len(promotion_ids)}:{digest}"
