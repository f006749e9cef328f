"""Render docs/landing_contract.md from ingestion.contract, so the document cannot drift from the code.

Run `python -m ingestion.contract_doc > docs/landing_contract.md`; a test fails when they differ.
"""

from __future__ import annotations

import sys

from ingestion.contract import ENTITIES, SUPPORTED_EXTENSIONS, Entity

INTRO = """# Landing contract

Generated from `ingestion/contract.py` by `python -m ingestion.contract_doc`; a test fails when this
file and the code differ. The design is DESIGN §3.

A source system integrates by dropping extract files at
`<landing>/<system>/<entity>/<extract_date>/<name>.<ext>` (extract_date = YYYY-MM-DD;
ext one of {extensions}). CSV files have a header row, are UTF-8 and comma-separated; dates are ISO.
Ids are strings compared after trimming surrounding blanks: leading zeros are kept.

What happens to a bad file in this version (landing v1):

- a missing landing folder, an entity folder without files, a date folder that is not a valid date,
  a file of another type, or a file without a required column stops the run before anything is
  written, with an error naming the path and the column;
- a value that cannot be typed, a required value that is empty, or a value outside an allowed list
  stops the run with an error naming the file, the line (the header is line 1) and the column; the
  warehouse stays as it was;
- columns that the contract does not list are ignored, with a warning naming the file.

Every landed row keeps `_file, _extract_date, _load_id, _loaded_at, _row_number`; every file gets a
row in `ops.file_registry` (size, sha256, rows). A `provenance.json` at the landing root says which
columns are observed and which an adapter derived; it is loaded into `ops.column_provenance`.
"""


def render_entity(entity: Entity) -> str:
    """One entity's section: key, description and a table of its columns."""
    lines = [
        f"## {entity.path} → `raw.{entity.name}`",
        "",
        f"{entity.description} Key: {', '.join(entity.key)}."
        + (" Master data: each extract is a full snapshot; the latest is the current state." if entity.master_data
           else ""),
        "",
        "| column | type | required | allowed values |",
        "|---|---|---|---|",
    ]
    for column in entity.columns:
        allowed = ", ".join(column.allowed) if column.allowed else ""
        lines.append(f"| {column.name} | {column.type} | {'yes' if column.required else 'no'} | {allowed} |")
    return "\n".join(lines)


def render() -> str:
    """The whole document."""
    sections = [INTRO.format(extensions=", ".join(SUPPORTED_EXTENSIONS))]
    sections += [render_entity(entity) for entity in ENTITIES]
    return "\n\n".join(sections) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
