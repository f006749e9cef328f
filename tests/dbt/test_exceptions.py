"""Exceptions keep their raised and resolved times across builds (dbt snapshot), and the KPI follows.

Three builds of the hand-made warehouse of test_dbt_build: the first with I1 × S1 selling far
outside its forecast interval and short of stock before an approved promotion, the second with
both fixed, the third with the demand outlier back. Each build's wall-clock window bounds the
times the marts must show.
"""

from __future__ import annotations

import gc
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from tests.dbt.test_dbt_build import PROJECT_DIR, W, _create_forecast, _create_raw

pytestmark = pytest.mark.slow


def _build(warehouse: Path, tmp: Path) -> tuple[datetime, datetime]:
    """`dbt build` of models and snapshots (tests run elsewhere); return the wall-clock window."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    mp = pytest.MonkeyPatch()
    mp.setenv("RETAILOPS_WAREHOUSE", str(warehouse))
    mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    started = datetime.now(UTC).replace(tzinfo=None)
    try:
        result = dbtRunner().invoke(
            [
                "build", "--resource-type", "model", "--resource-type", "snapshot",
                "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
                "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"), "--quiet",
            ]
        )  # fmt: skip
    finally:
        mp.undo()
        DuckDBConnectionManager.close_all_connections()
        gc.collect()
    assert result.success, f"dbt build failed: {result.exception}"
    return started, datetime.now(UTC).replace(tzinfo=None)


def _set_state(warehouse: Path, actual_units: float, on_hand: float) -> None:
    """I1 × S1 in W5: units sold (forecast interval 5.6 … 8.4) and on-hand (forecast 1.5 a day)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update forecast.demand_weekly set actual_units = ? "
            "where item_id = 'I1' and location_id = 'S1' and week_end_date = ?",
            [actual_units, W[5]],
        )
        con.execute(
            "update raw.inventory__snapshots set on_hand_units = ? "
            "where trim(item_id) = 'I1' and location_id = 'S1' and snapshot_date = ?",
            [on_hand, W[5]],
        )


def test_exceptions_are_raised_resolved_and_raised_again(tmp_path: Path) -> None:
    warehouse = tmp_path / "retail.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        _create_raw(con)
        _create_forecast(con)
        # an approved promotion starting 02-02, within I1's 7-day lead time of the last snapshot (01-31)
        con.execute(
            "insert into raw.erp__promotions (promotion_id, item_id, location_id, start_date, end_date, promo_price, "
            "mechanic, channel, approval_status, _file, _extract_date, _load_id, _loaded_at, _row_number) "
            "values ('P6', 'I1', 'S1', '2024-02-02', '2024-02-10', 4.00, 'tpr', 'all', 'approved', "
            "'erp/promotions/2024-02-01/extract.csv', '2024-02-01', 'load-p6', '2024-02-01', 2)"
        )

    # build 1: sold 30 > 8.4 + 0.5 × 2.8 = 9.8; 5 on hand ÷ 1.5 a day = 3.3 days < 7 + 7
    _set_state(warehouse, actual_units=30, on_hand=5)
    first = _build(warehouse, tmp_path)
    # build 2: sold 6 (inside the interval), 25 on hand = 16.7 days: both resolved
    _set_state(warehouse, actual_units=6, on_hand=25)
    second = _build(warehouse, tmp_path)
    # build 3: the demand outlier is back: a second occurrence of the same exception
    _set_state(warehouse, actual_units=30, on_hand=25)
    third = _build(warehouse, tmp_path)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        occurrences = con.execute(
            "select exception_type, promotion_id, occurrence_number, raised_at, resolved_at, is_open, "
            "resolution_hours, observed_date from marts.fct_exceptions order by exception_type, occurrence_number"
        ).fetchall()
        kpi = {
            row[0]: row[1:]
            for row in con.execute(
                "select exception_type, raised, resolved, still_open, median_resolution_hours, p90_resolution_hours "
                "from marts.fct_exception_resolution"
            ).fetchall()
        }
        ids = con.execute("select count(distinct exception_id) from marts.fct_exceptions").fetchone()[0]

    assert [(o[0], o[1], o[2], o[5]) for o in occurrences] == [
        ("demand_outside_forecast", None, 1, False),
        ("demand_outside_forecast", None, 2, True),
        ("stockout_risk_on_promoted_item", "P6", 1, False),
    ]
    assert ids == 2  # the demand exception keeps its identity across occurrences
    demand_1, demand_2, stockout = occurrences
    for occurrence in (demand_1, stockout):
        raised_at, resolved_at = occurrence[3], occurrence[4]
        assert first[0] <= raised_at <= first[1]
        assert second[0] <= resolved_at <= second[1]
        assert occurrence[6] == pytest.approx((resolved_at - raised_at).total_seconds() / 3600)
        assert occurrence[7] == date(2024, 1, 31)
    assert third[0] <= demand_2[3] <= third[1] and demand_2[4] is None and demand_2[6] is None

    # one resolved occurrence per type: its hours are both the median and the 90th percentile
    assert kpi["demand_outside_forecast"][:3] == (2, 1, 1)
    assert kpi["demand_outside_forecast"][3] == pytest.approx(demand_1[6])
    assert kpi["demand_outside_forecast"][4] == pytest.approx(demand_1[6])
    assert kpi["stockout_risk_on_promoted_item"][:3] == (1, 1, 0)
    assert kpi["stockout_risk_on_promoted_item"][3] == pytest.approx(stockout[6])
