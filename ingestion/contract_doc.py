"""Render docs/landing_contract.md from ingestion.contract, so the document cannot drift from the code.

Run `python -m ingestion.contract_doc > docs/landing_contract.md`; a test fails when they differ.
"""

from __future__ import annotations

import sys

from ingestion.contract import (
    ENTITIES,
    FUTURE_TOLERANCE_DAYS,
    IN_PROGRESS_SUFFIXES,
    SUPPORTED_EXTENSIONS,
    Column,
    Entity,
)

INTRO = """# Landing contract

Generated from `ingestion/contract.py` by `python -m ingestion.contract_doc`; a test fails when this
file and the code differ. The design is DESIGN §3; the loader is `ingestion/loader.py`.

A source system integrates by dropping extract files at
`<landing>/<system>/<entity>/<extract_date>/<name>.<ext>` (extract_date = YYYY-MM-DD;
ext one of {extensions}). CSV files have a header row, are UTF-8 and comma-separated; JSON Lines
hold one object per line; Parquet columns may be typed or text. Dates are ISO (a timestamp in a date
column keeps the date as written); timestamps are stored in UTC (one without an offset is read as
UTC). Booleans are `true`, `t`, `yes`, `y`, `1` or `false`, `f`, `no`, `n`, `0`, in any case.
Numbers, dates and booleans may have blanks around them. Ids are strings compared after trimming
surrounding blanks: leading zeros are kept. Header
names are matched after trimming, lower-casing and turning inner blanks or dashes into `_`
(`Item ID` is `item_id`, with a warning).

## Exactly once

Every file is registered in `ops.file_registry` (path, size, sha256, rows in file / loaded /
quarantined, load id, outcome, reason):

- a file already registered with the same path and content is not read again: loading twice
  changes nothing;
- **duplicate**: a file whose content was already loaded for the entity, wherever it sits, is
  registered and skipped;
- **restatement**: every accepted file is the whole extract of its entity and extract date. In one
  transaction it replaces the rows of the earlier extract of that date (registered as `superseded`,
  with the file that replaced it). Several files in one date folder are extracts of that date in
  modification-time order, so the last one wins. Master data (items, locations) extracts are full
  snapshots: each extract date stays in `raw`, staging takes the latest;
- writers deliver under a temporary name (starting with `.` or `~`, or ending in
  {in_progress}) and rename the file when it is complete; such files are never read. A file
  that changes while it is read is left for the next load.

## File or row?

A file is **rejected whole**, nothing loaded from it and the reason in the registry, when it is
empty (0 bytes), not UTF-8, not a readable Parquet file or not JSON Lines, not of a supported
type, lacks a required column (a header with one field holding `;`, tab or `|` is reported as the
wrong delimiter), has two columns that read as one name, sits outside the folder layout, in a date
folder that is not a valid date or dated more than {tolerance} day after today, or belongs to an
unknown entity. The run reports it and loads the other files.

A readable file's rows that fail go to **`ops.quarantine`** one by one (file, line number with the
header as line 1 — blank lines count as lines but are not rows; Parquet and JSON Lines rows count
from 1 —, column, reason, raw record): a record with a different number of fields than the
header (a truncated line, a trailer or total record), a value that does not parse as its type, an
empty required value, a value outside the allowed list, a value below the minimum or above the
maximum, an id that is not in the item or location master data loaded so far, fractional units of
an item that does not sell by weight, a key that repeats within the extract (every row of it), a
row rule that fails (below). A repeated header line fails typing. The raw record is the line
itself when it could not be split into fields, else a JSON object of the fields as read.

For every accepted file, data rows in the file = rows loaded + rows quarantined. The row count is
taken independently of the parser that loads the rows (line ends, the Parquet footer, the JSON
Lines lines); a file where the two disagree is rejected rather than losing a row. A Dagster asset
check per raw entity (`rows_conserved`) checks it against the tables.

Loaded and flagged, not quarantined: negative on-hand (a bookkeeping lag), negative POS units
(net returns), a promotion price above the regular price, absurd quantities: the Great
Expectations suites (`expectations/`) report them as warnings.

Every landed row keeps `_file, _extract_date, _load_id, _loaded_at, _row_number` (its line). A
`provenance.json` at the landing root says which columns are observed and which an adapter
derived; it is loaded into `ops.column_provenance`.
"""


def _rules(column: Column) -> str:
    rules = []
    if column.minimum is not None:
        rules.append(f"≥ {column.minimum:g}")
    if column.maximum is not None:
        rules.append(f"≤ {column.maximum:g}")
    if column.whole_units:
        rules.append("whole units unless the item sells by weight")
    if column.references:
        rules.append(f"must exist in {column.references}" + (f" (or `{column.wildcard}`)" if column.wildcard else ""))
    return "; ".join(rules)


def render_entity(entity: Entity) -> str:
    """One entity's section: key, description, a table of its columns and its row rules."""
    lines = [
        f"## {entity.path} → `raw.{entity.name}`",
        "",
        f"{entity.description} Key: {', '.join(entity.key)} (unique within an extract)."
        + (" Master data: each extract is a full snapshot; the latest is the current state." if entity.master_data
           else "")
        + (" Needed by the pipeline: `retailops run` stops if its folder is missing." if entity.needed_by_pipeline
           else ""),
        "",
        "| column | type | required | allowed values | rules |",
        "|---|---|---|---|---|",
    ]
    for column in entity.columns:
        allowed = ", ".join(column.allowed) if column.allowed else ""
        lines.append(
            f"| {column.name} | {column.type} | {'yes' if column.required else 'no'} | {allowed} | {_rules(column)} |"
        )
    for rule in entity.row_rules:
        lines += ["", f"Row rule: `{rule.sql}` (else quarantined on {rule.column}: {rule.reason})."]
    return "\n".join(lines)


def render() -> str:
    """The whole document."""
    sections = [INTRO.format(
        extensions=", ".join(SUPPORTED_EXTENSIONS),
        in_progress=", ".join(f"`{s}`" for s in IN_PROGRESS_SUFFIXES),
        tolerance=FUTURE_TOLERANCE_DAYS,
    )]
    sections += [render_entity(entity) for entity in ENTITIES]
    return "\n\n".join(sections) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
