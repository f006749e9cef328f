"""docs/landing_contract.md is generated from the contract the code uses."""

from pathlib import Path

from ingestion.contract import ENTITIES
from ingestion.contract_doc import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "landing_contract.md"


def test_document_is_the_rendered_contract() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/landing_contract.md is stale: run `python -m ingestion.contract_doc > docs/landing_contract.md`"
    )


def test_every_contract_column_appears_in_the_document() -> None:
    text = DOC.read_text(encoding="utf-8")
    for entity in ENTITIES:
        assert f"## {entity.path} → `raw.{entity.name}`" in text
        for column in entity.columns:
            assert f"| {column.name} | {column.type} |" in text
