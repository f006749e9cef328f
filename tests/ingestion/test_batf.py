"""Breakfast at the Frat adapter: a tiny hand-built dataset checked by hand, and the real data when present."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion import derive
from ingestion.adapters.batf import adapt_batf, promoted_weeks
from ingestion.contract import ENTITIES_BY_PATH

REAL_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dunnhumby_breakfast_at_the_frat"

W = [
    date(2011, 1, 5),
    date(2011, 1, 12),
    date(2011, 1, 19),
    date(2011, 1, 26),
    date(2011, 2, 2),
    date(2011, 2, 9),
    date(2011, 2, 16),
    date(2011, 2, 23),
    date(2011, 3, 2),
]  # Wednesdays
A, B, C = "0001111009477", "0002840004768", "0003120505000"  # leading zeros must survive

# (week, store, upc, units, visits, spend, price, base_price, feature, display, tpr_only)
ROWS = [
    # store 0042, item A (bag snacks): every promotion case
    (W[0], "0042", A, 10, 9, 20.00, 2.00, 2.00, 0, 0, 0),  # regular week
    (W[1], "0042", A, 20, 18, 30.00, 1.50, 2.00, 0, 0, 1),  # tpr flag
    (W[2], "0042", A, 10, 10, 16.00, 1.60, 2.00, 0, 0, 0),  # 20% under base, no flag: tpr, same run
    (W[3], "0042", A, 30, 25, 45.00, 1.50, 2.00, 1, 0, 0),  # feature: mechanic change splits the run
    (W[4], "0042", A, 10, 10, 19.90, 1.99, 2.00, 0, 0, 0),  # 0.5% under base: not promoted
    (W[5], "0042", A, 12, 11, 24.00, 2.00, 2.00, 0, 1, 0),  # display at full price
    # W[6] missing: the gap splits the display run
    (W[7], "0042", A, 0, 1, 0.00, 1.80, 2.00, 0, 1, 0),  # display, nothing sold
    # store 0042, item B (cereal): a display right after item A's, in the next series
    (W[8], "0042", B, 5, 5, 20.00, 4.00, 3.90, 0, 1, 0),
    # store 7, item B
    (W[0], "7", B, 8, 8, 24.00, 3.00, 4.00, 1, 1, 0),  # feature + display
    (W[1], "7", B, 4, 4, 14.00, 3.50, None, 1, 1, 0),  # same mechanic, base price missing
    (W[2], "7", B, 1, 1, 0.00, None, 4.20, 0, 0, 0),  # no price: not promoted, kept as given
    (W[3], "7", B, 0, 0, 0.00, None, 4.20, 0, 1, 0),  # display without any price or units: skipped
    # store 7, item C (frozen pizza): sold only in the first week
    (W[0], "7", C, 3, 3, 15.00, 5.00, 5.00, 0, 0, 0),
]
COLUMNS = [
    "week_end_date",
    "store_num",
    "upc",
    "units",
    "visits",
    "spend",
    "price",
    "base_price",
    "feature",
    "display",
    "tpr_only",
]


def _write_tiny_dataset(folder: Path, rows: list[tuple] = ROWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    table = pa.Table.from_pandas(frame, preserve_index=False).cast(
        pa.schema(
            [
                ("week_end_date", pa.date32()),
                ("store_num", pa.string()),
                ("upc", pa.string()),
                ("units", pa.int64()),
                ("visits", pa.int64()),
                ("spend", pa.float64()),
                ("price", pa.float64()),
                ("base_price", pa.float64()),
                ("feature", pa.int64()),
                ("display", pa.int64()),
                ("tpr_only", pa.int64()),
            ]
        )
    )
    pq.write_table(table, folder / "transactions.parquet")
    (folder / "products.csv").write_text(
        "upc,description,manufacturer,category,sub_category,product_size\n"
        f"{A},PL MINI TWIST PRETZELS,PRIVATE LABEL,BAG SNACKS,PRETZELS,15 OZ\n"
        f"{B},QKER LIFE ORIGINAL,QUAKER,COLD CEREAL,ALL FAMILY CEREAL,13 OZ\n"
        f"{C},HMRN CLSC CHS PIZZA,HOME RUN,FROZEN PIZZA,PIZZA/PREMIUM,27 OZ\n"
        "0009999999999,NEVER SOLD,NOBODY,BAG SNACKS,PRETZELS,1 OZ\n",
        encoding="utf-8",
    )
    (folder / "stores.csv").write_text(
        "store_num,store_name,address_city_name,address_state_prov_code,seg_value_name,sales_area_size_num\n"
        "0042,SILVERLAKE,ERLANGER,KY,MAINSTREAM,46073.0\n"
        "7,KINGWOOD,KINGWOOD,TX,VALUE,\n",
        encoding="utf-8",
    )
    return folder


def _read(landing: Path, entity: str) -> pd.DataFrame:
    files = sorted((landing / entity).glob("*/*.csv"))
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("batf")
    source = _write_tiny_dataset(root / "source")
    landing = root / "landing"
    return landing, adapt_batf(source, landing)


def test_promotions_are_reconstructed_as_worked_out_by_hand(tiny: tuple[Path, object]) -> None:
    landing, summary = tiny
    promotions = _read(landing, "erp/promotions").set_index("promotion_id")
    expected = {
        # W1-W2 tpr (flag, then price cut): (30.00 + 16.00) ÷ 30 units = 1.5333 → 1.53
        f"B0042-{A}-20110112-tpr": (A, "0042", "2011-01-06", "2011-01-19", "1.53", "tpr"),
        f"B0042-{A}-20110126-feature": (A, "0042", "2011-01-20", "2011-01-26", "1.50", "feature"),
        f"B0042-{A}-20110209-display": (A, "0042", "2011-02-03", "2011-02-09", "2.00", "display"),
        # after the missing week; no units sold, so the shelf price stands in
        f"B0042-{A}-20110223-display": (A, "0042", "2011-02-17", "2011-02-23", "1.80", "display"),
        f"B0042-{B}-20110302-display": (B, "0042", "2011-02-24", "2011-03-02", "4.00", "display"),
        # (24.00 + 14.00) ÷ 12 units = 3.1667 → 3.17
        f"B7-{B}-20110105-feature_display": (B, "7", "2010-12-30", "2011-01-12", "3.17", "feature_display"),
    }
    assert set(promotions.index) == set(expected)
    for promotion_id, (item, store, start, end, price, mechanic) in expected.items():
        row = promotions.loc[promotion_id]
        assert (row.item_id, row.location_id, row.start_date, row.end_date, row.promo_price, row.mechanic) == (
            item,
            store,
            start,
            end,
            price,
            mechanic,
        )
    assert set(promotions["channel"]) == {"store"} and set(promotions["approval_status"]) == {"approved"}
    assert summary.promotions_reconstructed == 6
    assert summary.promotions_skipped_no_price == 1  # store 7 item B week 4: display with no price at all


def test_vectorised_promoted_week_rule_matches_the_documented_rule() -> None:
    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    by_rule = [
        derive.is_promoted_week(
            r.feature,
            r.display,
            r.tpr_only,
            None if pd.isna(r.price) else r.price,
            None if pd.isna(r.base_price) else r.base_price,
        )
        for r in frame.itertuples()
    ]
    assert promoted_weeks(frame).tolist() == by_rule


def test_sales_keep_observed_values_and_derive_the_discount(tiny: tuple[Path, object]) -> None:
    landing, summary = tiny
    sales = _read(landing, "pos/sales")
    assert len(sales) == len(ROWS) == summary.rows_written["pos/sales"]
    by_key = sales.set_index(["business_date", "location_id", "item_id"])
    # 20 units × (2.00 − 1.50) = 10.00
    assert tuple(by_key.loc[("2011-01-12", "0042", A), ["units", "net_sales", "discount_amount", "baskets"]]) == (
        "20",
        "30.00",
        "10.00",
        "18",
    )
    # 10 × (2.00 − 1.99) = 0.10: a discount is recorded even below the 1% promotion threshold
    assert by_key.loc[("2011-02-02", "0042", A), "discount_amount"] == "0.10"
    # base price missing → no discount; price missing → units and spend as given, no discount
    assert by_key.loc[("2011-01-12", "7", B), "discount_amount"] == "0.00"
    assert tuple(by_key.loc[("2011-01-19", "7", B), ["units", "net_sales", "discount_amount"]]) == ("1", "0.00", "0.00")
    # a price above base is no discount
    assert by_key.loc[("2011-03-02", "0042", B), "discount_amount"] == "0.00"
    assert set(sales["period_days"]) == {"7"}
    # one extract per week, dated the day after the week ends
    files = sorted(p.relative_to(landing).as_posix() for p in (landing / "pos" / "sales").glob("*/*.csv"))
    assert files[0] == "pos/sales/2011-01-06/sales_2011-01-05.csv"
    assert len(files) == 8  # W[6] has no rows at all


def test_item_and_location_masters(tiny: tuple[Path, object]) -> None:
    landing, _ = tiny
    items = _read(landing, "erp/items").set_index("item_id")
    assert list(items.index) == [A, B, C]  # the never-sold product is left out
    # A: median base price 2.00, cost 2.00 × (1 − 35%) = 1.30, case of 12, lead time 4 days
    assert tuple(items.loc[A, ["regular_price", "unit_cost", "pack_size", "moq", "lead_time_days", "uom"]]) == (
        "2.00",
        "1.30",
        "12",
        "12",
        "4",
        "15 OZ",
    )
    # B: base prices 3.90, 4.00, 4.20, 4.20 → median 4.10; cost 4.10 × 0.70 = 2.87
    assert tuple(items.loc[B, ["regular_price", "unit_cost", "brand", "supplier_id"]]) == (
        "4.10",
        "2.87",
        "QUAKER",
        "QUAKER",
    )
    # last week is 2011-03-02: C last sold 2011-01-05, more than 4 weeks earlier
    assert tuple(items["status"]) == ("active", "active", "inactive")
    locations = _read(landing, "erp/locations").set_index("location_id")
    assert tuple(locations.loc["0042", ["location_type", "region", "cluster", "city", "selling_area_sqft"]]) == (
        "store",
        "KY",
        "MAINSTREAM",
        "ERLANGER",
        "46073",
    )
    assert locations.loc["7", "selling_area_sqft"] == ""
    master_dates = {p.parent.name for p in landing.glob("erp/*/*/*.csv")}
    assert master_dates == {"2011-03-03"}


def test_snapshots_follow_the_simulated_policy_over_missing_weeks(tiny: tuple[Path, object]) -> None:
    landing, _ = tiny
    snapshots = _read(landing, "inventory/snapshots")
    series = snapshots[(snapshots.location_id == "0042") & (snapshots.item_id == A)].sort_values("snapshot_date")
    # weeks W0..W7 with W6 missing (sold 0): 10, 20, 10, 30, 10, 12, 0, 0 → mean 11.5;
    # level = ceil(11.5 × (1 + 1 + 2)) = 46, case of 12, opening 46:
    # W0 36 (order 12) · W1 16 (order 24) · W2 16+12−10 = 18 (order 12) · W3 18+24−30 = 12 (order 24)
    # W4 12+12−10 = 14 (order 12) · W5 14+24−12 = 26 (order 12) · W6 26+12 = 38 · W7 38+12 = 50
    assert series["snapshot_date"].tolist() == [d.isoformat() for d in W[:8]]
    assert series["on_hand_units"].astype(int).tolist() == [36, 16, 18, 12, 14, 26, 38, 50]
    assert series["in_transit_units"].astype(int).tolist() == [0, 12, 24, 12, 24, 12, 12, 0]
    assert set(series["on_order_units"]) == {"0"}
    # series span from first to last week with sales: store 7 item C has a single week
    assert len(snapshots[(snapshots.location_id == "7") & (snapshots.item_id == C)]) == 1


def test_files_carry_contract_columns_and_provenance_marks_derived_values(tiny: tuple[Path, object]) -> None:
    landing, _ = tiny
    for path in landing.rglob("*.csv"):
        entity = ENTITIES_BY_PATH["/".join(path.relative_to(landing).parts[:2])]
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        assert set(entity.required_columns) <= set(header) <= set(entity.column_names), path
    provenance = json.loads((landing / "provenance.json").read_text(encoding="utf-8"))
    columns = provenance["entities"]
    assert all(c["origin"] == "derived" for c in columns["erp/promotions"]["columns"].values())
    assert columns["pos/sales"]["columns"]["units"]["origin"] == "observed"
    assert columns["erp/items"]["columns"]["unit_cost"]["origin"] == "derived"
    assert columns["inventory/snapshots"]["columns"]["on_hand_units"]["origin"] == "derived"
    for entity in columns.values():
        for column in entity["columns"].values():
            assert column["origin"] == "observed" or column["rule"]


def test_rerun_replaces_its_own_output_but_refuses_a_foreign_folder(tmp_path: Path) -> None:
    source = _write_tiny_dataset(tmp_path / "source")
    landing = tmp_path / "landing"
    adapt_batf(source, landing)
    adapt_batf(source, landing)  # an earlier Breakfast at the Frat output is replaced
    assert len(list((landing / "erp" / "items").glob("*/*.csv"))) == 1
    foreign = tmp_path / "retailer"
    (foreign / "pos").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="retailer"):
        adapt_batf(source, foreign)


def test_bad_input_names_file_row_and_column(tmp_path: Path) -> None:
    tuesday = [(date(2011, 1, 4), *ROWS[0][1:])] + ROWS[1:]
    source = _write_tiny_dataset(tmp_path / "tuesday", tuesday)
    with pytest.raises(ValueError, match=r"transactions.parquet: row 1, column 'week_end_date'.*Wednesday"):
        adapt_batf(source, tmp_path / "out")
    unknown = ROWS + [(W[0], "7", "0000000000042", 1, 1, 1.0, 1.0, 1.0, 0, 0, 0)]
    source = _write_tiny_dataset(tmp_path / "unknown", unknown)
    with pytest.raises(ValueError, match=rf"row {len(unknown)}, column 'upc'.*products.csv"):
        adapt_batf(source, tmp_path / "out")
    source = _write_tiny_dataset(tmp_path / "no_category")
    products = source / "products.csv"
    products.write_text(products.read_text().replace("category,sub_category", "cat,sub_category"))
    with pytest.raises(ValueError, match=r"products.csv: required column 'category'"):
        adapt_batf(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="../shared/data/dunnhumby_breakfast_at_the_frat is absent")
def test_real_breakfast_at_the_frat(tmp_path: Path) -> None:
    landing = tmp_path / "batf"
    summary = adapt_batf(REAL_DATA, landing)
    # Independent counts from the landed CSV files (SOURCE.md: 524,950 rows, 77 stores, 55 products occur,
    # 10,293,354 units, 156 weeks).
    con = duckdb.connect()
    rows, units, items, locations, weeks = con.execute(
        "select count(*), sum(cast(units as bigint)), count(distinct item_id), count(distinct location_id), "
        "count(distinct business_date) from read_csv(?, all_varchar = true)",
        [str(landing / "pos" / "sales" / "*" / "*.csv")],
    ).fetchone()
    assert (rows, units, items, locations, weeks) == (524_950, 10_293_354, 55, 77, 156)
    assert len(_read(landing, "erp/locations")) == 77
    assert len(_read(landing, "erp/items")) == 55
    assert summary.files_written == 3 + 156 + 156
    promotions = _read(landing, "erp/promotions")
    assert promotions["promotion_id"].is_unique
    assert len(promotions) == summary.promotions_reconstructed
    # The same runs counted independently in SQL (gaps and islands over the source file).
    (runs,) = con.execute(
        """with weeks as (
               select store_num, upc, week_end_date,
                   feature = 1 or display = 1 or tpr_only = 1 or coalesce(price < base_price * 0.99, false)
                       as promoted,
                   case when feature = 1 and display = 1 then 'feature_display' when feature = 1 then 'feature'
                        when display = 1 then 'display' else 'tpr' end as mechanic
               from read_parquet(?)),
           previous as (
               select *, lag(week_end_date) over w as previous_week, lag(promoted) over w as previous_promoted,
                   lag(mechanic) over w as previous_mechanic
               from weeks window w as (partition by store_num, upc order by week_end_date))
           select count(*) from previous
           where promoted and not coalesce(previous_promoted and previous_mechanic = mechanic
                                           and datediff('day', previous_week, week_end_date) = 7, false)""",
        [str(REAL_DATA / "transactions.parquet")],
    ).fetchone()
    assert runs == summary.promotions_reconstructed + summary.promotions_skipped_no_price
    assert summary.seconds < 60
