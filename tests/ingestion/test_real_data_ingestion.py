"""Both real datasets through the adapters and the loader: every row loaded or quarantined, counted independently."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingestion.adapters.batf import adapt_batf
from ingestion.adapters.freshretailnet import DAILY_FILE, adapt_freshretailnet
from ingestion.contract import ENTITIES
from ingestion.loader import conservation_report, load_entity

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
BATF = DATA / "dunnhumby_breakfast_at_the_frat"
FRN = DATA / "freshretailnet_50k"

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


def _load_everything(landing: Path, warehouse: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(warehouse))
    for entity in ENTITIES:
        load_entity(con, landing, entity, "real")
        report = conservation_report(con, entity)
        assert report.holds, (entity.path, report.violations[:5])
    return con


@pytest.mark.skipif(not (FRN / DAILY_FILE).is_file(), reason="../shared/data/freshretailnet_50k is absent")
def test_freshretailnet_loads_all_4_5_million_rows(tmp_path: Path) -> None:
    adapt_freshretailnet(FRN, tmp_path / "landing")
    con = _load_everything(tmp_path / "landing", tmp_path / "frn.duckdb")
    source = duckdb.sql(
        f"select count(*), sum(sale_amount), sum(list_sum(hours_stock_status)) from read_parquet('{FRN / DAILY_FILE}')"
    ).fetchall()[0]
    assert source[0] == 4_500_000
    loaded = con.execute("select count(*), sum(units) from raw.pos__sales").fetchall()[0]
    assert loaded[0] == source[0] and loaded[1] == pytest.approx(source[1], rel=1e-9)
    snapshots = con.execute("select count(*), sum(stockout_hours) from raw.inventory__snapshots").fetchall()[0]
    assert snapshots == (source[0], pytest.approx(source[2]))
    assert con.execute("select count(*) from ops.quarantine").fetchall() == [(0,)]
    assert con.execute("select count(*), count(distinct outcome) from ops.file_registry").fetchall() == [(183, 1)]


@pytest.mark.skipif(not BATF.is_dir(), reason="../shared/data/dunnhumby_breakfast_at_the_frat is absent")
def test_breakfast_at_the_frat_loads_every_transaction(tmp_path: Path) -> None:
    adapt_batf(BATF, tmp_path / "landing")
    con = _load_everything(tmp_path / "landing", tmp_path / "batf.duckdb")
    source = duckdb.sql(f"select count(*), sum(units) from read_parquet('{BATF / 'transactions.parquet'}')").fetchall()
    assert source[0][0] == 524_950
    assert con.execute("select count(*), sum(units) from raw.pos__sales").fetchall() == source
    assert con.execute("select count(*) from ops.quarantine").fetchall() == [(0,)]
