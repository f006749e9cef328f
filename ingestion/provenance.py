"""Writing landing output: extract files and the `provenance.json` that says where each column came from.

provenance.json (one per landing folder):
  {"dataset": ..., "source": ..., "generated_by": ...,
   "entities": {"erp/items": {"columns": {"item_id": {"origin": "observed", "rule": ...}, ...}}, ...}}
origin is "observed", "derived" (a documented rule, docs/derived_data.md) or "synthetic";
derived and synthetic columns always carry their rule.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ingestion.contract import (
    ENTITIES_BY_PATH,
    PROVENANCE_FILE,
    SUPPORTED_EXTENSIONS,
    Entity,
    extract_path,
    is_date_dir,
)

ORIGINS = ("observed", "derived", "synthetic")


def observed(rule: str) -> dict[str, str]:
    """A column taken from the source as given; `rule` names the source column."""
    return {"origin": "observed", "rule": rule}


def derived(rule: str) -> dict[str, str]:
    """A column computed by a documented deterministic rule from observed data and stated assumptions."""
    return {"origin": "derived", "rule": rule}


def synthetic(rule: str) -> dict[str, str]:
    """A column made up by the generator."""
    return {"origin": "synthetic", "rule": rule}


def write_provenance(
    landing_dir: Path,
    dataset: str,
    source: str,
    generated_by: str,
    entities: Mapping[str, Mapping[str, Mapping[str, str]]],
) -> Path:
    """Write `<landing_dir>/provenance.json`; `entities` maps "system/entity" → column → {origin, rule}."""
    document: dict = {"dataset": dataset, "source": source, "generated_by": generated_by, "entities": {}}
    for entity_path, columns in entities.items():
        entity = ENTITIES_BY_PATH.get(entity_path)
        if entity is None:
            raise ValueError(f"provenance: unknown entity {entity_path!r} (expected one of {sorted(ENTITIES_BY_PATH)})")
        described: dict[str, dict[str, str]] = {}
        for column, info in columns.items():
            if column not in entity.column_names:
                raise ValueError(f"provenance: {entity_path} has no contract column {column!r}")
            origin = info.get("origin")
            if origin not in ORIGINS:
                raise ValueError(f"provenance: {entity_path}.{column} origin {origin!r} is not one of {ORIGINS}")
            if origin != "observed" and not info.get("rule"):
                raise ValueError(f"provenance: {entity_path}.{column} is {origin} but states no rule")
            described[column] = dict(info)
        document["entities"][entity_path] = {"columns": described}
    path = landing_dir / PROVENANCE_FILE
    landing_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_provenance(landing_dir: Path) -> dict | None:
    """The parsed provenance.json of a landing folder, or None when it has none."""
    path = landing_dir / PROVENANCE_FILE
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("entities"), dict):
        raise ValueError(f"{path}: expected an object with an 'entities' object")
    return document


def write_extract(landing_dir: Path, entity: Entity, extract_date: date, name: str, rows: pd.DataFrame) -> Path:
    """Write one CSV extract with the contract's columns in contract order; missing optional columns are left out."""
    unknown = [c for c in rows.columns if c not in entity.column_names]
    if unknown:
        raise ValueError(f"{entity.path} extract {name}: columns {unknown} are not in the landing contract")
    missing = [c for c in entity.required_columns if c not in rows.columns]
    if missing:
        raise ValueError(f"{entity.path} extract {name}: required columns {missing} are missing")
    path = extract_path(landing_dir, entity, extract_date, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = rows[[c for c in entity.column_names if c in rows.columns]]
    ordered.to_csv(path, index=False, lineterminator="\n", na_rep="", encoding="utf-8")
    return path


def write_weekly_extracts(landing_dir: Path, entity: Entity, name: str, rows: pd.DataFrame, date_column: str) -> int:
    """One extract per week (`rows[date_column]`, a date), dated the day after the week ends; returns files written.

    Rows are ordered by location and item inside each file, so the same rows give the same bytes.
    """
    rows = rows.sort_values([date_column, "location_id", "item_id"], kind="stable")
    files = 0
    for week_end, week_rows in rows.groupby(date_column, sort=True):
        extract = week_rows.assign(**{date_column: week_end.isoformat()})
        write_extract(landing_dir, entity, week_end + timedelta(days=1), f"{name}_{week_end.isoformat()}", extract)
        files += 1
    return files


def format_cents(cents: np.ndarray) -> np.ndarray:
    """Whole cents → '12.34' text (integer arithmetic, so no float rounding creeps in)."""
    cents = np.asarray(cents, dtype=np.int64)
    sign = np.where(cents < 0, "-", "")
    absolute = np.abs(cents)
    return np.char.add(
        np.char.add(sign, (absolute // 100).astype(str)),
        np.char.add(".", np.char.zfill((absolute % 100).astype(str), 2)),
    ).astype(object)


def format_quantity(values: np.ndarray) -> np.ndarray:
    """Whole quantities as integers ('12', not '12.0'); fractional ones as Python writes them; NaN as blank."""
    values = np.asarray(values, dtype=float)
    text = np.empty(len(values), dtype=object)
    whole = np.isfinite(values) & (values == np.round(values))
    text[whole] = values[whole].astype(np.int64).astype(str)
    fractional = np.isfinite(values) & ~whole
    text[fractional] = [repr(float(v)) for v in values[fractional]]
    text[~np.isfinite(values)] = None
    return text


@contextmanager
def staged_landing_dir(out: Path, dataset: str) -> Iterator[Path]:
    """Build a landing folder beside `out` and move it into place only when the build succeeds.

    A previous output of the same dataset at `out` is replaced whole; anything else there
    (another dataset's or a retailer's extracts) is refused rather than overwritten.
    """
    out = out.resolve()
    _check_replaceable(out, dataset)
    staging = out.with_name(f".{out.name}.building")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = out.with_name(f".{out.name}.previous")
    if previous.exists():
        shutil.rmtree(previous)
    if out.exists():
        out.rename(previous)
    staging.rename(out)
    if previous.exists():
        shutil.rmtree(previous)


def _check_replaceable(out: Path, dataset: str) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder")
    entries = list(out.iterdir())
    if not entries:
        return
    provenance = read_provenance(out)
    if provenance is None or provenance.get("dataset") != dataset:
        found = "no provenance.json" if provenance is None else f"dataset {provenance.get('dataset')!r}"
        raise FileExistsError(
            f"{out}: not empty and not an earlier {dataset!r} output ({found}); choose an empty folder"
        )
    # Only files the earlier output could have written may be replaced: anything else a user put
    # there (notes, a README, an analysis folder), at any depth, makes us refuse.
    entities = set(provenance.get("entities", {}))
    stray = []
    for path in sorted(out.rglob("*")):
        if path.is_dir():
            continue
        parts = path.relative_to(out).parts
        in_layout = (
            len(parts) == 4 and f"{parts[0]}/{parts[1]}" in entities and is_date_dir(parts[2])
            and path.suffix.lower() in SUPPORTED_EXTENSIONS
        )
        if parts != (PROVENANCE_FILE,) and not in_layout:
            stray.append(path.relative_to(out).as_posix())
    if stray:
        raise FileExistsError(
            f"{out}: holds files outside the landing layout ({', '.join(stray[:5])}); will not replace it"
        )