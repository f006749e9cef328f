"""Seed generator: deterministic bytes, contract columns, and a built-in lift recomputed from the files."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingestion.contract import ENTITIES, ENTITIES_BY_PATH
from ingestion.derive import lead_time_weeks, order_up_to_units, simulate_weekly_on_hand
from ingestion.generator import (
    DISPLAY_LIFT,
    FEATURE_LIFT,
    LIFT_PER_DEPTH,
    SeedSpec,
    expected_weekly_units,
    generate_seeds,
)

SEEDS_DIR = Path(__file__).resolve().parents[2] / "seeds"
SMALL = SeedSpec(stores=2, items=3, weeks=30, seed=7)


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _read(landing: Path, entity: str) -> pd.DataFrame:
    files = sorted((landing / entity).glob("*/*.csv"))
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def default_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("seed") / "landing"
    generate_seeds(landing)
    return landing


def test_same_spec_gives_byte_identical_files(tmp_path: Path) -> None:
    generate_seeds(tmp_path / "first", SMALL)
    generate_seeds(tmp_path / "second", SMALL)
    first, second = _digests(tmp_path / "first"), _digests(tmp_path / "second")
    assert first == second and len(first) == 3 + 30 + 30 + 1
    generate_seeds(tmp_path / "other", SeedSpec(stores=2, items=3, weeks=30, seed=8))
    assert _digests(tmp_path / "other") != first


def test_committed_seeds_are_the_generators_default_output(default_seed: Path) -> None:
    # If this fails, regenerate: `.venv/bin/retailops seeds` (or python -m ingestion.generator).
    assert _digests(SEEDS_DIR) == _digests(default_seed)
    assert sum((SEEDS_DIR / name).stat().st_size for name in _digests(SEEDS_DIR)) < 1_000_000


def test_files_carry_exactly_contract_columns(default_seed: Path) -> None:
    for entity in ENTITIES:
        files = list((default_seed / entity.system / entity.entity).glob("*/*.csv"))
        # The generator writes every entity the pipeline needs; the others (purchase orders,
        # e-commerce, receipts, store tasks) are not part of the embedded sample yet.
        assert files or not entity.needed_by_pipeline, entity.path
        for path in files:
            with path.open(encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle))
            assert set(entity.required_columns) <= set(header) <= set(entity.column_names), path
            assert header == [c for c in entity.column_names if c in header], path  # contract order
    provenance = json.loads((default_seed / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["dataset"] == "retailops_synthetic_seed"
    for entity_path, entity in provenance["entities"].items():
        assert entity_path in ENTITIES_BY_PATH
        assert all(c["origin"] == "synthetic" and c["rule"] for c in entity["columns"].values())


def test_layout_sizes_and_leading_zeros(default_seed: Path) -> None:
    spec = SeedSpec()
    sales = _read(default_seed, "pos/sales")
    assert len(sales) == 4 * 12 * 78
    assert sales["item_id"].str.startswith("00").all() and sales["location_id"].str.startswith("0").all()
    weeks = sorted(set(sales["business_date"]))
    assert weeks[0] == "2024-01-03" and len(weeks) == 78
    assert all(date.fromisoformat(w).isoweekday() == 3 for w in weeks)  # Wednesdays
    extract_dirs = sorted(p.name for p in (default_seed / "pos" / "sales").iterdir())
    assert extract_dirs[0] == "2024-01-04" and len(extract_dirs) == 78
    items = _read(default_seed, "erp/items")
    assert len(items) == 12 and items["category"].nunique() == 3
    assert {p.parent.name for p in default_seed.glob("erp/*/*/*.csv")} == {
        (spec.last_week_end + timedelta(days=1)).isoformat()
    }


def test_promotion_plan_history_planned_and_drafts(default_seed: Path) -> None:
    spec = SeedSpec()
    promotions = _read(default_seed, "erp/promotions")
    approved = promotions[promotions["approval_status"] == "approved"]
    last_week = spec.last_week_end.isoformat()
    history = approved[approved["end_date"] <= last_week]
    planned = approved[approved["start_date"] > last_week]
    assert len(history) + len(planned) == len(approved)  # nothing straddles the end of history
    assert history.groupby(["item_id", "location_id"]).size().min() >= 3
    assert history.groupby(["item_id", "location_id"]).ngroups == 4 * 12
    assert len(planned) > 0
    assert (planned["start_date"] <= (spec.last_week_end + timedelta(weeks=4)).isoformat()).all()
    assert promotions.loc[promotions["approval_status"] == "draft", "promotion_id"].nunique() == 2
    assert set(approved["mechanic"]) == {"tpr", "feature", "display", "feature_display"}
    # lasts 1-3 weeks, never overlaps another approved promotion of the same item and store
    days = (pd.to_datetime(approved["end_date"]) - pd.to_datetime(approved["start_date"])).dt.days + 1
    assert set(days) <= {7, 14, 21}
    for _, lines in approved.sort_values("start_date").groupby(["item_id", "location_id"]):
        assert (lines["start_date"].iloc[1:].to_numpy() > lines["end_date"].iloc[:-1].to_numpy()).all()
    items = _read(default_seed, "erp/items").set_index("item_id")
    depth = 1 - approved["promo_price"].astype(float) / approved["item_id"].map(items["regular_price"]).astype(float)
    assert depth.between(0.095, 0.355).all()


def test_expected_units_cover_history_and_horizon() -> None:
    spec = SeedSpec()
    expected = expected_weekly_units(spec)
    assert len(expected) == 4 * 12 * (78 + spec.horizon_weeks)
    assert list(expected.columns[:6]) == [
        "item_id",
        "location_id",
        "week_end_date",
        "baseline_units",
        "expected_units",
        "promotion_id",
    ]
    base = expected["baseline_units"]
    assert base.between(15 * 0.9, 80 * 1.1).all()  # base levels 15-80 with a ±10% season
    unpromoted = expected["promotion_id"].isna()
    assert (expected.loc[unpromoted, "expected_units"] == base[unpromoted]).all()
    promoted = expected[~unpromoted]
    assert (promoted["expected_units"] > promoted["baseline_units"]).all()
    assert promoted["is_history"].any() and (~promoted["is_history"]).any()  # planned promotions too
    assert expected.equals(expected_weekly_units(spec))  # from the spec alone, every time


def test_landed_sales_recover_the_lift(default_seed: Path) -> None:
    spec = SeedSpec()
    expected = expected_weekly_units(spec)
    promotions = _read(default_seed, "erp/promotions")
    items = _read(default_seed, "erp/items").set_index("item_id")
    approved = promotions[promotions["approval_status"] == "approved"]
    # Weeks of each approved line, its depth and flags, from the files alone.
    rows = []
    for line in approved.itertuples():
        week = date.fromisoformat(line.start_date) + timedelta(days=6)
        while week <= date.fromisoformat(line.end_date):
            regular = float(items.loc[line.item_id, "regular_price"])
            rows.append(
                (
                    line.item_id,
                    line.location_id,
                    week,
                    line.promotion_id,
                    1 - float(line.promo_price) / regular,
                    int(line.mechanic in ("feature", "feature_display")),
                    int(line.mechanic in ("display", "feature_display")),
                )
            )
            week += timedelta(days=7)
    weeks = pd.DataFrame(
        rows, columns=["item_id", "location_id", "week_end_date", "promotion_id", "depth", "feature", "display"]
    )
    merged = expected.merge(weeks, on=["item_id", "location_id", "week_end_date"], how="left", suffixes=("", "_file"))
    assert (merged["promotion_id"].fillna("") == merged["promotion_id_file"].fillna("")).all()
    live = merged.dropna(subset=["promotion_id_file"])
    lift = 1 + LIFT_PER_DEPTH * live["depth"] + FEATURE_LIFT * live["feature"] + DISPLAY_LIFT * live["display"]
    assert np.allclose(live["expected_units"], live["baseline_units"] * lift)

    # Landed units are Poisson around the expectation: totals agree within a few standard errors.
    sales = _read(default_seed, "pos/sales")
    sales["week_end_date"] = sales["business_date"].map(date.fromisoformat)
    sales["units"] = sales["units"].astype(float)
    history = expected[expected["is_history"]].merge(sales, on=["item_id", "location_id", "week_end_date"])
    assert len(history) == len(sales)
    for subset in (history[history["promotion_id"].notna()], history[history["promotion_id"].isna()]):
        total_expected = subset["expected_units"].sum()
        assert abs(subset["units"].sum() - total_expected) < 4 * np.sqrt(total_expected)
    promoted = history[history["promotion_id"].notna()]
    observed_lift = promoted["units"].sum() / promoted["baseline_units"].sum()
    assert observed_lift > 1.5  # depth ~0.2 → +40%, plus feature / display
    # Draft promotion weeks sell at baseline: the draft changed nothing.
    drafts = promotions[promotions["approval_status"] == "draft"]
    draft_weeks = {(d.item_id, d.location_id, date.fromisoformat(d.end_date)) for d in drafts.itertuples()}
    in_history = history[
        [k in draft_weeks for k in zip(history.item_id, history.location_id, history.week_end_date, strict=True)]
    ]
    assert len(in_history) > 0 and in_history["promotion_id"].isna().all()

    # Discounts: units × (regular − promo price) in promoted weeks, 0 otherwise.
    with_prices = sales.merge(weeks, on=["item_id", "location_id", "week_end_date"], how="left")
    regular = with_prices["item_id"].map(items["regular_price"]).astype(float)
    promo_price = regular * (1 - with_prices["depth"].fillna(0))
    assert np.allclose(
        with_prices["discount_amount"].astype(float), with_prices["units"] * (regular - promo_price), atol=0.005
    )
    assert np.allclose(with_prices["net_sales"].astype(float), with_prices["units"] * promo_price, atol=0.005)


def test_snapshots_are_the_shared_policy_on_the_landed_sales(default_seed: Path) -> None:
    sales = _read(default_seed, "pos/sales")
    snapshots = _read(default_seed, "inventory/snapshots")
    items = _read(default_seed, "erp/items").set_index("item_id")
    assert len(snapshots) == len(sales)
    item_id, store = "002003", "0201"
    sold = sales[(sales.item_id == item_id) & (sales.location_id == store)].sort_values("business_date")
    units = sold["units"].astype(float).tolist()
    lead = lead_time_weeks(int(items.loc[item_id, "lead_time_days"]))
    level = order_up_to_units(sum(units) / len(units), lead)
    simulated = simulate_weekly_on_hand(units, level, lead, int(items.loc[item_id, "pack_size"]), level)
    series = snapshots[(snapshots.item_id == item_id) & (snapshots.location_id == store)].sort_values("snapshot_date")
    assert series["on_hand_units"].astype(float).tolist() == [w.closing_on_hand for w in simulated]
    assert series["in_transit_units"].astype(float).tolist() == [w.in_transit_units for w in simulated]


def test_spec_is_validated() -> None:
    with pytest.raises(ValueError, match="Wednesday"):
        SeedSpec(first_week_end=date(2024, 1, 1))
    with pytest.raises(ValueError, match="categories"):
        SeedSpec(categories=("PET FOOD",))
