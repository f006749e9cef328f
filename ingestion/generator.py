"""The seed generator: a small synthetic retailer in the landing layout, with a known promotion lift.

Expected weekly units of an item at a store are
    base_level[item, store] × season(week) × (1 + LIFT_PER_DEPTH × discount_depth
                                              + FEATURE_LIFT × feature + DISPLAY_LIFT × display)
while an approved promotion is live (the bracket is 1 otherwise), and units sold are
Poisson around that. `expected_weekly_units(spec)` recomputes the noiseless expectation from
the spec alone, so tests can check that marts and forecasts recover the lift. Draft
promotions never change sales. Same spec → byte-identical files.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ingestion import derive
from ingestion.contract import ITEMS, LOCATIONS, PROMOTIONS, SALES, SNAPSHOTS
from ingestion.provenance import (
    format_cents,
    format_quantity,
    staged_landing_dir,
    synthetic,
    write_extract,
    write_provenance,
    write_weekly_extracts,
)

DATASET = "retailops_synthetic_seed"
GENERATOR_VERSION = "1.0.0"
GENERATED_BY = f"ingestion.generator {GENERATOR_VERSION}"

# The built-in promotion response (see module docstring).
LIFT_PER_DEPTH = 2.0
FEATURE_LIFT = 0.3
DISPLAY_LIFT = 0.2
# Share of units that are a second unit in the same basket (baskets = units − Binomial(units, this)).
MULTI_UNIT_SHARE = 0.1
MECHANIC_WEIGHTS = {"tpr": 0.35, "feature": 0.2, "display": 0.2, "feature_display": 0.25}
MECHANIC_FLAGS = {"tpr": (0, 0), "feature": (1, 0), "display": (0, 1), "feature_display": (1, 1)}

# Category → (subcategory, product, size) lines, brands, regular price range and season peak.
CATALOGUE: dict[str, dict] = {
    "BAG SNACKS": {
        "products": [
            ("PRETZELS", "MINI TWIST PRETZELS", "16 OZ"),
            ("PRETZELS", "PRETZEL RODS", "12 OZ"),
            ("POTATO CHIPS", "KETTLE SEA SALT CHIPS", "8 OZ"),
            ("POTATO CHIPS", "RIPPLE CHIPS", "9 OZ"),
        ],
        "brands": ("TWIN OAKS", "PRIVATE LABEL"),
        "price": (1.79, 3.49),
        "peak_day": 196,
    },
    "COLD CEREAL": {
        "products": [
            ("ALL FAMILY CEREAL", "HONEY OAT CLUSTERS", "14 OZ"),
            ("KIDS CEREAL", "FROSTED RINGS", "12 OZ"),
            ("ADULT CEREAL", "RAISIN BRAN", "20 OZ"),
            ("ALL FAMILY CEREAL", "TOASTED OATS", "18 OZ"),
        ],
        "brands": ("MORNING FIELD", "PRIVATE LABEL"),
        "price": (2.49, 4.99),
        "peak_day": 20,
    },
    "FROZEN PIZZA": {
        "products": [
            ("PIZZA/PREMIUM", "RISING CRUST PEPPERONI", "28 OZ"),
            ("PIZZA/PREMIUM", "FOUR CHEESE", "26 OZ"),
            ("PIZZA/PREMIUM", "SUPREME", "30 OZ"),
            ("PIZZA/PREMIUM", "THIN CRUST SAUSAGE", "22 OZ"),
        ],
        "brands": ("STONE HEARTH", "PRIVATE LABEL"),
        "price": (3.99, 7.99),
        "peak_day": 35,
    },
    "ORAL HYGIENE PRODUCTS": {
        "products": [
            ("MOUTHWASHES (ANTISEPTIC)", "ANTISEPTIC RINSE", "1 LT"),
            ("MOUTHWASH/RINSES AND SPRAYS", "FLUORIDE RINSE", "500 ML"),
        ],
        "brands": ("BRIGHTSMILE", "PRIVATE LABEL"),
        "price": (2.99, 5.99),
        "peak_day": 1,
    },
}
# (location_id, name, city, state, cluster, selling area sq ft); ids keep their leading zero.
STORE_TABLE = [
    ("0101", "RIVERSIDE", "CINCINNATI", "OH", "MAINSTREAM", 45200),
    ("0102", "HILLTOP", "DAYTON", "OH", "VALUE", 38400),
    ("0201", "LAKEWOOD", "HOUSTON", "TX", "UPSCALE", 52300),
    ("0202", "CEDAR PARK", "AUSTIN", "TX", "MAINSTREAM", 47100),
    ("0301", "BLUEGRASS", "LEXINGTON", "KY", "VALUE", 36800),
    ("0302", "RIVER BEND", "COVINGTON", "KY", "MAINSTREAM", 41900),
]


@dataclass(frozen=True)
class SeedSpec:
    """What the generator makes; every field has the embedded default."""

    stores: int = 4
    items: int = 12
    categories: tuple[str, ...] = ("BAG SNACKS", "COLD CEREAL", "FROZEN PIZZA")
    weeks: int = 78
    first_week_end: date = date(2024, 1, 3)
    seed: int = 20240103
    base_units_range: tuple[float, float] = (15.0, 80.0)
    season_amplitude: float = 0.10
    depth_range: tuple[float, float] = (0.10, 0.35)
    # Non-promoted weeks between two promotions of one item (drawn uniformly, inclusive).
    gap_weeks: tuple[int, int] = (5, 12)
    # Weeks after history that expected_weekly_units also covers (planned promotions fall in them).
    horizon_weeks: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.stores <= len(STORE_TABLE):
            raise ValueError(f"SeedSpec.stores must be between 1 and {len(STORE_TABLE)}, got {self.stores}")
        unknown = [c for c in self.categories if c not in CATALOGUE]
        if unknown or not self.categories:
            raise ValueError(f"SeedSpec.categories must be among {sorted(CATALOGUE)}, got {self.categories}")
        if self.items < len(self.categories):
            raise ValueError(f"SeedSpec.items ({self.items}) must be at least the number of categories")
        if self.weeks < 26:
            raise ValueError(f"SeedSpec.weeks must be >= 26 (room for several promotions), got {self.weeks}")
        if self.first_week_end.isoweekday() != 3:
            raise ValueError(
                f"SeedSpec.first_week_end must be a Wednesday (weeks end on Wednesday), "
                f"got {self.first_week_end:%A %Y-%m-%d}"
            )
        if not 0 <= self.season_amplitude <= 0.15:
            raise ValueError(f"SeedSpec.season_amplitude must be within [0, 0.15], got {self.season_amplitude}")
        if self.horizon_weeks < 6:
            raise ValueError(f"SeedSpec.horizon_weeks must be >= 6 (planned promotions), got {self.horizon_weeks}")

    @property
    def last_week_end(self) -> date:
        return self.first_week_end + timedelta(weeks=self.weeks - 1)


@dataclass
class SeedSummary:
    """What generate_seeds wrote."""

    rows_written: dict[str, int] = field(default_factory=dict)
    files_written: int = 0
    bytes_written: int = 0
    approved_history_promotion_lines: int = 0
    approved_planned_promotion_lines: int = 0
    draft_promotion_lines: int = 0

    def __str__(self) -> str:
        lines = [f"synthetic seed: {self.files_written} files, {self.bytes_written:,} bytes"]
        lines += [f"  {entity}: {rows} rows" for entity, rows in self.rows_written.items()]
        lines.append(
            f"  promotion lines: {self.approved_history_promotion_lines} approved in history, "
            f"{self.approved_planned_promotion_lines} approved planned, {self.draft_promotion_lines} draft"
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class _Promotion:
    promotion_id: str
    item_id: str
    location_ids: tuple[str, ...]
    first_week: int  # index of its first week; history is 0 .. weeks − 1
    weeks: int
    mechanic: str
    promo_price: Decimal
    approval_status: str


@dataclass(frozen=True)
class _Plan:
    items: pd.DataFrame
    stores: pd.DataFrame
    base_level: np.ndarray  # items × stores
    promotions: list[_Promotion]


def _week_end(spec: SeedSpec, week: int) -> date:
    return spec.first_week_end + timedelta(weeks=week)


def _plan(spec: SeedSpec) -> _Plan:
    """Items, stores, base levels and promotions: everything but the sales noise, from the seed alone."""
    rng = np.random.default_rng([spec.seed, 0])
    items = _items(spec, rng)
    stores = pd.DataFrame(
        STORE_TABLE[: spec.stores],
        columns=["location_id", "location_name", "city", "state", "cluster", "selling_area_sqft"],
    )
    low, high = spec.base_units_range
    base_level = rng.uniform(low, high, size=(len(items), len(stores)))
    promotions: list[_Promotion] = []
    store_ids = tuple(stores["location_id"])
    for position, item in enumerate(items.to_dict("records")):
        promotions += _item_promotions(spec, rng, position, item, store_ids)
    return _Plan(items, stores, base_level, promotions)


def _items(spec: SeedSpec, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    per_category = [
        spec.items // len(spec.categories) + (c < spec.items % len(spec.categories))
        for c in range(len(spec.categories))
    ]
    for c, (category, count) in enumerate(zip(spec.categories, per_category, strict=True)):
        entry = CATALOGUE[category]
        rules = derive.category_rules(category)
        for i in range(count):
            subcategory, product, size = entry["products"][i % len(entry["products"])]
            brand = entry["brands"][i % len(entry["brands"])]
            repeat = i // len(entry["products"])
            low, high = entry["price"]
            # Shelf prices end in 9: x.x9
            regular = Decimal(math.floor(rng.uniform(low, high) * 10)) / 10 + Decimal("0.09")
            rows.append(
                {
                    "item_id": f"00{c + 1}{i + 1:03d}",
                    "item_name": f"{brand} {product}" + (f" {repeat + 1}" if repeat else ""),
                    "category": category,
                    "subcategory": subcategory,
                    "brand": brand,
                    "unit_cost": derive.unit_cost_from_margin(float(regular), category),
                    "regular_price": regular,
                    "pack_size": rules.pack_size,
                    "moq": rules.moq,
                    "supplier_id": brand,
                    "lead_time_days": rules.lead_time_days,
                    "lead_time_std_days": rules.lead_time_std_days,
                    "status": "active",
                    "uom": size,
                }
            )
    return pd.DataFrame(rows)


def _item_promotions(
    spec: SeedSpec, rng: np.random.Generator, position: int, item: dict, store_ids: tuple[str, ...]
) -> list[_Promotion]:
    """Non-overlapping promotions of one item: history, one planned (even positions), drafts (positions 1 and 3)."""
    mechanics, weights = list(MECHANIC_WEIGHTS), np.array(list(MECHANIC_WEIGHTS.values()))
    regular = item["regular_price"]

    def promotion(first_week: int, weeks: int, stores: tuple[str, ...], status: str) -> _Promotion:
        mechanic = mechanics[rng.choice(len(mechanics), p=weights / weights.sum())]
        depth = rng.uniform(*spec.depth_range)
        price = derive.round_money(float(regular) * (1 - depth), 2)
        start = _week_end(spec, first_week)
        return _Promotion(
            f"SEED-{item['item_id']}-{start:%Y%m%d}",
            item["item_id"],
            stores,
            first_week,
            weeks,
            mechanic,
            price,
            status,
        )

    planned_first = spec.weeks + int(rng.integers(0, 4)) if position % 2 == 0 else None
    history_limit = spec.weeks - 1 if planned_first is None else min(spec.weeks - 1, planned_first - 2)
    found: list[_Promotion] = []
    week = int(rng.integers(2, 8))
    subsets = 0
    while True:
        duration = int(rng.integers(1, 4))
        if week + duration - 1 > history_limit:
            break
        if rng.random() < 0.5:
            stores = store_ids
        else:  # one store sits this one out, in turn, so every store keeps several promotions
            stores = tuple(s for k, s in enumerate(store_ids) if k != (subsets + position) % len(store_ids))
            stores = stores or store_ids
            subsets += 1
        found.append(promotion(week, duration, stores, "approved"))
        week += duration + int(rng.integers(spec.gap_weeks[0], spec.gap_weeks[1] + 1))
    if planned_first is not None:
        found.append(promotion(planned_first, int(rng.integers(1, 4)), store_ids, "approved"))
    if position == 1 and len(found) >= 2 and found[1].first_week + found[1].weeks + 1 < spec.weeks:
        # A draft in a gap of history: sales there carry no lift, so a pipeline that counts
        # drafts as live promotions is caught.
        found.append(promotion(found[1].first_week + found[1].weeks + 1, 1, store_ids, "draft"))
    if position == 3:
        found.append(promotion(spec.weeks + 1, 2, store_ids, "draft"))
    return found


def _season(spec: SeedSpec, category: str, week_end: date) -> float:
    """Mild yearly cycle peaking on the category's peak day of the year."""
    peak = CATALOGUE[category]["peak_day"]
    day = week_end.timetuple().tm_yday
    return 1.0 + spec.season_amplitude * math.cos(2 * math.pi * (day - peak) / 365.25)


def _lift(promotion: _Promotion, regular: Decimal) -> float:
    feature, display = MECHANIC_FLAGS[promotion.mechanic]
    # The depth the warehouse will see: 1 − promo price ÷ regular price (after rounding to the cent).
    depth = float(1 - promotion.promo_price / regular)
    return 1.0 + LIFT_PER_DEPTH * depth + FEATURE_LIFT * feature + DISPLAY_LIFT * display


def _expected(spec: SeedSpec, plan: _Plan) -> pd.DataFrame:
    live: dict[tuple[str, str, int], _Promotion] = {}
    for promotion in plan.promotions:
        if promotion.approval_status != "approved":
            continue
        for store in promotion.location_ids:
            for week in range(promotion.first_week, promotion.first_week + promotion.weeks):
                key = (promotion.item_id, store, week)
                if key in live:  # pragma: no cover - the plan places promotions apart
                    raise AssertionError(f"overlapping promotions for {key}")
                live[key] = promotion
    total_weeks = spec.weeks + spec.horizon_weeks
    rows = []
    for i, item in enumerate(plan.items.to_dict("records")):
        seasons = [_season(spec, item["category"], _week_end(spec, w)) for w in range(total_weeks)]
        for s, store in enumerate(plan.stores["location_id"]):
            for week in range(total_weeks):
                baseline = float(plan.base_level[i, s]) * seasons[week]
                promotion = live.get((item["item_id"], store, week))
                lift = _lift(promotion, item["regular_price"]) if promotion else 1.0
                rows.append(
                    (
                        item["item_id"],
                        store,
                        _week_end(spec, week),
                        baseline,
                        baseline * lift,
                        promotion.promotion_id if promotion else None,
                        week < spec.weeks,
                        promotion.promo_price if promotion else item["regular_price"],
                    )
                )
    return pd.DataFrame(
        rows,
        columns=[
            "item_id",
            "location_id",
            "week_end_date",
            "baseline_units",
            "expected_units",
            "promotion_id",
            "is_history",
            "unit_price",
        ],
    )


def expected_weekly_units(spec: SeedSpec = SeedSpec()) -> pd.DataFrame:
    """Noiseless weekly units per item × store × week (history, then horizon_weeks more), from the spec alone.

    Columns: item_id, location_id, week_end_date, baseline_units (no promotion),
    expected_units (with the live approved promotion), promotion_id (NULL if none), is_history.
    """
    return _expected(spec, _plan(spec)).drop(columns=["unit_price"])


def generate_seeds(out: Path, spec: SeedSpec = SeedSpec()) -> SeedSummary:
    """Write the synthetic retailer's landing folder to `out` (replacing an earlier seed output there)."""
    plan = _plan(spec)
    expected = _expected(spec, plan)
    history = expected[expected["is_history"]].reset_index(drop=True)
    noise = np.random.default_rng([spec.seed, 1])
    units = noise.poisson(history["expected_units"].to_numpy())
    baskets = units - noise.binomial(units, MULTI_UNIT_SHARE)
    regular_cents = (
        history["item_id"]
        .map({r["item_id"]: int(r["regular_price"] * 100) for r in plan.items.to_dict("records")})
        .to_numpy()
    )
    price_cents = np.array([int(p * 100) for p in history["unit_price"]], dtype=np.int64)
    sales = pd.DataFrame(
        {
            "business_date": history["week_end_date"],
            "location_id": history["location_id"],
            "item_id": history["item_id"],
            "units": units,
            "net_sales": format_cents(units * price_cents),
            "discount_amount": format_cents(units * (regular_cents - price_cents)),
            "baskets": baskets,
            "period_days": 7,
        }
    )
    history = history.assign(units=units)
    snapshots = _snapshots(plan, history)
    promotions = _promotion_rows(spec, plan)
    items = plan.items.assign(
        unit_cost=plan.items["unit_cost"].map(lambda d: f"{d:.2f}"),
        regular_price=plan.items["regular_price"].map(lambda d: f"{d:.2f}"),
    )
    locations = plan.stores.assign(location_type="store", region=plan.stores["state"])
    extract_date = spec.last_week_end + timedelta(days=1)

    summary = SeedSummary()
    with staged_landing_dir(Path(out), DATASET) as landing:
        write_extract(landing, ITEMS, extract_date, "items", items)
        write_extract(landing, LOCATIONS, extract_date, "locations", locations)
        write_extract(landing, PROMOTIONS, extract_date, "promotions", promotions)
        summary.files_written = 3
        summary.files_written += write_weekly_extracts(landing, SALES, "sales", sales, "business_date")
        summary.files_written += write_weekly_extracts(landing, SNAPSHOTS, "snapshots", snapshots, "snapshot_date")
        write_provenance(landing, DATASET, f"synthetic: {spec!r}", GENERATED_BY, provenance_columns())
        summary.bytes_written = sum(p.stat().st_size for p in landing.rglob("*") if p.is_file())
    summary.rows_written = {
        ITEMS.path: len(items),
        LOCATIONS.path: len(locations),
        PROMOTIONS.path: len(promotions),
        SALES.path: len(sales),
        SNAPSHOTS.path: len(snapshots),
    }
    approved = promotions[promotions["approval_status"] == "approved"]
    planned = approved["start_date"] > spec.last_week_end.isoformat()
    summary.approved_planned_promotion_lines = int(planned.sum())
    summary.approved_history_promotion_lines = int((~planned).sum())
    summary.draft_promotion_lines = int((promotions["approval_status"] == "draft").sum())
    return summary


def _promotion_rows(spec: SeedSpec, plan: _Plan) -> pd.DataFrame:
    rows = []
    for p in plan.promotions:
        for store in p.location_ids:
            rows.append(
                {
                    "promotion_id": p.promotion_id,
                    "item_id": p.item_id,
                    "location_id": store,
                    "start_date": derive.week_start_date(_week_end(spec, p.first_week)).isoformat(),
                    "end_date": _week_end(spec, p.first_week + p.weeks - 1).isoformat(),
                    "promo_price": f"{p.promo_price:.2f}",
                    "mechanic": p.mechanic,
                    "channel": "store",
                    "approval_status": p.approval_status,
                }
            )
    return pd.DataFrame(rows).sort_values(["promotion_id", "location_id"]).reset_index(drop=True)


def _snapshots(plan: _Plan, history: pd.DataFrame) -> pd.DataFrame:
    """End-of-week inventory per item × store from the shared simulated replenishment policy."""
    items = plan.items.set_index("item_id")
    frames = []
    for (item_id, store), series in history.groupby(["item_id", "location_id"], sort=True):
        series = series.sort_values("week_end_date")
        lead = derive.lead_time_weeks(int(items.at[item_id, "lead_time_days"]))
        sold = series["units"].astype(float).tolist()
        level = derive.order_up_to_units(float(np.mean(sold)), lead)
        simulated = derive.simulate_weekly_on_hand(sold, level, lead, int(items.at[item_id, "pack_size"]), level)
        frames.append(
            pd.DataFrame(
                {
                    "snapshot_date": series["week_end_date"].to_numpy(),
                    "location_id": store,
                    "item_id": item_id,
                    "on_hand_units": format_quantity(np.array([w.closing_on_hand for w in simulated])),
                    "in_transit_units": format_quantity(np.array([w.in_transit_units for w in simulated])),
                    "on_order_units": format_quantity(np.array([w.on_order_units for w in simulated])),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def provenance_columns() -> dict[str, dict[str, dict[str, str]]]:
    """Every landed column is synthetic; the rule says how it was made."""
    policy = "simulate_weekly_on_hand on the synthetic sales (same policy as the Breakfast at the Frat adapter)"
    rules = {
        ITEMS.path: {
            "item_id": "'00' + category number + item number (leading zeros on purpose)",
            "item_name": "brand + product from the generator's catalogue",
            "category": "SeedSpec.categories",
            "subcategory": "generator catalogue",
            "brand": "generator catalogue",
            "unit_cost": "regular_price × (1 − assumed gross margin by category, ingestion/derive.py)",
            "regular_price": "uniform in the category's price range, ending in 9",
            "pack_size": "assumed case pack by category (ingestion/derive.py)",
            "moq": "assumed minimum order in cases × pack_size (ingestion/derive.py)",
            "supplier_id": "the brand",
            "lead_time_days": "assumed lead time by category (ingestion/derive.py)",
            "lead_time_std_days": "assumed by category (ingestion/derive.py)",
            "status": "'active'",
            "uom": "pack size from the generator catalogue",
        },
        LOCATIONS.path: {
            "location_id": "generator store table",
            "location_name": "generator store table",
            "location_type": "'store'",
            "region": "the state",
            "cluster": "generator store table",
            "city": "generator store table",
            "state": "generator store table",
            "selling_area_sqft": "generator store table",
        },
        PROMOTIONS.path: {
            "promotion_id": "'SEED-' + item_id + '-' + first week_end_date yyyymmdd",
            "item_id": "every item",
            "location_id": "all stores, or all but one in turn",
            "start_date": "first week's week_end_date − 6 days; promotions 1–3 weeks, 5–12 weeks apart",
            "end_date": "last week's week_end_date",
            "promo_price": "regular_price × (1 − depth), depth uniform in SeedSpec.depth_range, to the cent",
            "mechanic": f"drawn with weights {MECHANIC_WEIGHTS}",
            "channel": "'store'",
            "approval_status": "'approved', plus two 'draft' lines that never change sales",
        },
        SALES.path: {
            "business_date": "week_end_date (Wednesday)",
            "location_id": "every store",
            "item_id": "every item",
            "units": f"Poisson(base × season × (1 + {LIFT_PER_DEPTH} × depth + {FEATURE_LIFT} × feature + "
            f"{DISPLAY_LIFT} × display)), ingestion.generator.expected_weekly_units",
            "net_sales": "units × the week's price (promo price while an approved promotion is live)",
            "discount_amount": "units × (regular_price − promo_price) in promoted weeks, else 0",
            "baskets": f"units − Binomial(units, {MULTI_UNIT_SHARE})",
            "period_days": "7 (weekly summaries)",
        },
        SNAPSHOTS.path: {
            "snapshot_date": "every history week_end_date",
            "location_id": "every store",
            "item_id": "every item",
            "on_hand_units": f"{policy}: closing on-hand",
            "in_transit_units": f"{policy}: the order received at the start of next week",
            "on_order_units": f"{policy}: orders due after next week",
        },
    }
    return {entity: {column: synthetic(rule) for column, rule in columns.items()} for entity, columns in rules.items()}


def main(argv: list[str] | None = None) -> int:
    """`python -m ingestion.generator [OUT]` (default: the project's seeds/)."""
    parser = argparse.ArgumentParser(description="Generate the synthetic seed landing folder.")
    parser.add_argument("out", type=Path, nargs="?", default=Path(__file__).resolve().parents[1] / "seeds")
    args = parser.parse_args(argv)
    print(generate_seeds(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
