"""The ERP file target: manifest agrees with the files, batches are idempotent, writes are atomic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from writeback.files import verify_manifest, write_batch


def _targets() -> dict[str, pd.DataFrame]:
    return {
        "replenishment_targets": pd.DataFrame(
            {"item_id": ["007", "008"], "location_id": ["1", "1"], "order_up_to_units": [12.0, 0.5]}
        ),
        "promotion_uplift": pd.DataFrame({"promotion_id": ["P1"], "uplift_units": [3.25]}),
    }


def test_manifest_lists_row_counts_and_checksums_of_the_files(tmp_path: Path) -> None:
    batch = write_batch(tmp_path, _targets(), "m1")
    manifest = json.loads(batch.manifest.read_text())
    assert manifest["batch_id"] == batch.batch_id
    by_type = {entry["target_type"]: entry for entry in manifest["files"]}
    replenishment = tmp_path / by_type["replenishment_targets"]["file"]
    text = replenishment.read_text()
    # Independent reading of the file: header + 2 rows, leading zeros kept.
    assert text.splitlines() == ["item_id,location_id,order_up_to_units", "007,1,12", "008,1,0.5"]
    assert by_type["replenishment_targets"]["row_count"] == 2
    assert by_type["replenishment_targets"]["sha256"] == hashlib.sha256(replenishment.read_bytes()).hexdigest()
    # The batch total: 2 replenishment rows + 1 uplift row.
    assert by_type["promotion_uplift"]["row_count"] == 1 and manifest["row_count"] == 3
    assert verify_manifest(batch.manifest) == []
    assert not list(tmp_path.glob(".*.tmp"))


def test_same_targets_twice_is_one_batch_and_changes_nothing(tmp_path: Path) -> None:
    first = write_batch(tmp_path, _targets(), "m1")
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    second = write_batch(tmp_path, _targets(), "m1")
    assert second.batch_id == first.batch_id and second.already_written
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_different_values_or_model_version_make_a_new_batch(tmp_path: Path) -> None:
    first = write_batch(tmp_path, _targets(), "m1")
    changed = _targets()
    changed["promotion_uplift"].loc[0, "uplift_units"] = 4.0
    assert write_batch(tmp_path, changed, "m1").batch_id != first.batch_id
    assert write_batch(tmp_path, _targets(), "m2").batch_id != first.batch_id


def test_tampered_file_is_detected(tmp_path: Path) -> None:
    batch = write_batch(tmp_path, _targets(), "m1")
    (tmp_path / batch.files[0].name).write_text("promotion_id,uplift_units\n")
    problems = verify_manifest(batch.manifest)
    assert any("sha256 differs" in p for p in problems) and any("0 rows" in p for p in problems)
    # A damaged batch is rewritten by the next run of the same targets.
    assert not write_batch(tmp_path, _targets(), "m1").already_written
    assert verify_manifest(batch.manifest) == []


def test_wrong_or_missing_batch_row_count_is_detected(tmp_path: Path) -> None:
    batch = write_batch(tmp_path, _targets(), "m1")
    manifest = json.loads(batch.manifest.read_text())
    batch.manifest.write_text(json.dumps({**manifest, "row_count": 4}))
    assert verify_manifest(batch.manifest) == [f"{batch.manifest.name}: row_count 4, but its files list 3 rows"]
    del manifest["row_count"]
    batch.manifest.write_text(json.dumps(manifest))
    assert verify_manifest(batch.manifest) == [f"{batch.manifest.name}: no batch row_count (the files list 3 rows)"]
    # A batch whose manifest does not verify is written again whole by the next run of the same targets.
    assert not write_batch(tmp_path, _targets(), "m1").already_written
    assert verify_manifest(batch.manifest) == [] and json.loads(batch.manifest.read_text())["row_count"] == 3
