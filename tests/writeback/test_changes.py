"""Pure parts of writeback: reading the forecast as business keys, judging a change, planning a batch."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.writeback.helpers import AS_OF, BASE_UPLIFT, expected_values, write_forecast
from writeback.changes import (
    Proposal,
    Review,
    WritebackInputError,
    judge_change,
    plan_changes,
    read_proposals,
)
from writeback.settings import (
    ENV_MAX_CHANGE_PCT,
    ENV_TARGET,
    Thresholds,
    WritebackConfigError,
    WritebackSettings,
    dsn_password,
    redact,
)

LIMITS = Thresholds(max_change_pct=50, max_change_at_cost=500)
KEY = ("001", "L1", "order_up_to_units", AS_OF)


def test_proposals_are_one_absolute_value_per_business_key(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    write_forecast(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        proposals = read_proposals(con, ["replenishment_targets", "promotion_uplift"]).values
    assert {p.key: p.value for p in proposals} == expected_values()
    # 4 item-locations x 4 replenishment targets + 3 uplift rows.
    assert len(proposals) == 19
    p1 = next(p for p in proposals if p.key == ("001", "L2", "uplift_units", date(2025, 7, 3)))
    assert (p1.promotion_id, p1.end_date, p1.unit_cost) == ("P1", date(2025, 7, 16), 2.0)


def test_unapproved_promotion_gets_no_uplift(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    write_forecast(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update staging.stg_erp__promotions set is_approved = false where promotion_id = 'P2'")
        proposals = read_proposals(con, ["promotion_uplift"]).values
    assert sorted(p.promotion_id for p in proposals) == ["P1", "P1"]


def test_infinite_value_is_an_error_naming_table_row_and_column(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    write_forecast(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update forecast.replenishment_targets set order_up_to_units = 'infinity'::double "
                    "where item_id = '002' and location_id = 'L2'")
        with pytest.raises(WritebackInputError) as raised:
            read_proposals(con, ["replenishment_targets"])
    message = str(raised.value)
    assert "forecast.replenishment_targets (item '002', location 'L2', as_of_date 2025-06-25)" in message
    assert "'order_up_to_units' is inf" in message and "nothing was written" in message


def test_null_value_is_no_proposal_and_is_reported(tmp_path: Path) -> None:
    # The forecast leaves the suggested order NULL where the inventory position is unknown.
    warehouse = tmp_path / "w.duckdb"
    write_forecast(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update forecast.replenishment_targets set suggested_order_units = null "
                    "where item_id = '002' and location_id = 'L2'")
        forecast = read_proposals(con, ["replenishment_targets"])
    assert len(forecast.values) == 15
    assert ("002", "L2", "suggested_order_units", AS_OF) not in {p.key for p in forecast.values}
    assert forecast.without_value == [
        "forecast.replenishment_targets (item '002', location 'L2', as_of_date 2025-06-25): suggested_order_units "
        "is NULL"]


def test_two_promotions_on_one_business_key_are_an_error(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    clash = [*BASE_UPLIFT, ("P9", "001", "L1", date(2025, 7, 3), date(2025, 7, 9), 5.0)]
    write_forecast(warehouse, uplift=clash)
    with duckdb.connect(str(warehouse)) as con, pytest.raises(WritebackInputError, match="'P1' and 'P9'"):
        read_proposals(con, ["promotion_uplift"])


def test_uplift_takes_effect_on_the_promotions_own_start_date(tmp_path: Path) -> None:
    """Two short promotions in one forecast week share the forecast's start_date (the week's first
    day) but not their own: each is its own ERP key, effective on the day the ERP has it start."""
    warehouse = tmp_path / "w.duckdb"
    short = [("PA", "001", "L1", date(2025, 7, 5), date(2025, 7, 6), 3.0),
             ("PB", "001", "L1", date(2025, 7, 8), date(2025, 7, 9), 4.0)]
    write_forecast(warehouse, uplift=short)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update forecast.promotion_uplift set start_date = date '2025-07-03', end_date = date '2025-07-09'")
        proposals = read_proposals(con, ["promotion_uplift"]).values
    assert sorted((p.key, p.value) for p in proposals) == [
        (("001", "L1", "uplift_units", date(2025, 7, 5)), 3.0),
        (("001", "L1", "uplift_units", date(2025, 7, 8)), 4.0),
    ]


def test_judge_change_by_hand() -> None:
    # 40 -> 70: |30| / 40 = 75 % > 50 %; at cost 30 x 2.00 = 60 <= 500.
    assert judge_change(70.0, 40.0, 2.0, LIMITS) == (75.0, 60.0, "change 75.0% > 50%")
    # 20 -> 26: 30 %, 6 x 10.00 = 60: within both.
    assert judge_change(26.0, 20.0, 10.0, LIMITS) == (30.0, 60.0, None)
    # Nothing in force: percent does not apply, at cost is measured from zero: 300 x 2.00 = 600 > 500.
    assert judge_change(300.0, None, 2.0, LIMITS) == (None, 600.0, "change at cost 600.00 > 500")
    # In force 0: percent undefined too; 40 x 10.00 = 400 <= 500.
    assert judge_change(40.0, 0.0, 10.0, LIMITS) == (None, 400.0, None)
    # Both limits broken: both reasons.
    pct, cost, reason = judge_change(70.0, 12.0, 10.0, LIMITS)
    assert pct == pytest.approx(483.333, abs=1e-3) and cost == 580.0
    assert reason == "change 483.3% > 50%; change at cost 580.00 > 500"
    # A change without a unit cost cannot be valued, so it waits for a person.
    assert judge_change(11.0, 10.0, None, LIMITS)[2] == "no unit cost to value the change at cost"
    # 'inf' switches a rule off.
    assert judge_change(1000.0, 1.0, 1.0, Thresholds(float("inf"), float("inf")))[2] is None


def test_plan_routes_each_key_by_state_and_review() -> None:
    k = lambda item, t="order_up_to_units": (item, "L1", t, AS_OF)  # noqa: E731
    proposals = [
        Proposal(k("A"), 10.0, 1.0),   # equal to value in force -> unchanged
        Proposal(k("B"), 12.0, 1.0),   # +20 %, within -> auto
        Proposal(k("C"), 30.0, 1.0),   # +200 % -> held
        Proposal(k("D"), 30.0, 1.0),   # same value as its pending review -> still pending
        Proposal(k("E"), 11.0, 1.0),   # pending review for 50 superseded; 11 within -> auto
        Proposal(k("F"), 99.0, 1.0),   # rejected before with this value -> declined
        Proposal(k("G"), 10.0, 1.0),   # approved review for 40 wins -> approved 40
    ]
    in_force = {k(x): 10.0 for x in "ABCDEFG"}
    reviews = [Review(1, k("D"), 30.0, "pending"), Review(2, k("E"), 50.0, "pending"),
               Review(3, k("G"), 40.0, "approved")]
    plan = plan_changes(proposals, in_force, reviews, {(k("F"), 99.0)}, LIMITS)
    assert sorted((w.key[0], w.value, w.decision, w.review_id) for w in plan.writes) == [
        ("B", 12.0, "auto", None), ("E", 11.0, "auto", None), ("G", 40.0, "approved", 3)]
    assert [(h.key[0], h.new_value, h.old_value, h.change_pct) for h in plan.holds] == [("C", 30.0, 10.0, 200.0)]
    assert [r.review_id for r in plan.superseded] == [2]
    assert (plan.unchanged, plan.still_pending, plan.suppressed) == (1, 1, 1)


def test_replenishment_compares_with_the_latest_earlier_date_uplift_only_with_its_own(tmp_path: Path) -> None:
    from writeback.state import ensure_schema, load_in_force

    later = date(2025, 7, 2)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_schema(con)
        con.execute(
            """insert into writeback.key_state values
               ('d', '001', 'L1', 'order_up_to_units', '2025-06-25', 40, 'b1', 'm', now()),
               ('d', '001', 'L1', 'uplift_units', '2025-06-25', 30, 'b1', 'm', now()),
               ('other', '001', 'L1', 'order_up_to_units', '2025-06-25', 99, 'b0', 'm', now())"""
        )
        in_force = load_in_force(con, "d", [("001", "L1", "order_up_to_units", later),
                                            ("001", "L1", "uplift_units", later),
                                            ("001", "L1", "order_up_to_units", date(2025, 6, 1))])
    assert list(in_force.values()) == [40.0, None, None]


def test_settings_errors_name_the_environment_variable(tmp_path: Path) -> None:
    common = dict(warehouse=tmp_path / "w", outbound_dir=tmp_path / "o", dsn="", erp_schema="erp_staging",
                  max_change_at_cost="10")
    with pytest.raises(WritebackConfigError, match=ENV_TARGET):
        WritebackSettings.from_values(target="ftp", max_change_pct="5", **common)
    with pytest.raises(WritebackConfigError, match=ENV_MAX_CHANGE_PCT):
        WritebackSettings.from_values(target="files", max_change_pct="lots", **common)
    with pytest.raises(WritebackConfigError, match="RETAILOPS_ERP_SCHEMA"):
        WritebackSettings.from_values(target="files", max_change_pct="5", **{**common, "erp_schema": "x; drop"})


def test_dsn_never_shows_in_repr_and_redaction_removes_the_password(tmp_path: Path) -> None:
    dsn = "postgresql://writer:S3cr3t-pw@db.example:5432/erp"
    settings = WritebackSettings.from_values(
        warehouse=tmp_path / "w", outbound_dir=tmp_path / "o", target="postgres", dsn=dsn, erp_schema="erp_staging",
        max_change_pct="5", max_change_at_cost="10",
    )
    assert "S3cr3t-pw" not in repr(settings) and "S3cr3t-pw" not in str(settings)
    assert dsn_password(dsn) == "S3cr3t-pw"
    assert dsn_password("host=db password=kv-secret user=w") == "kv-secret"
    assert redact(f"failed: {dsn} (S3cr3t-pw)", dsn) == "failed: *** (***)"
