"""The `retailops` command line: clear errors for bad input, nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestration.cli import build_parser, main
from orchestration.lib.paths import SEEDS_DIR


def test_run_with_missing_landing_folder_exits_2_and_names_it(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere"
    code = main(["run", "--landing", str(missing), "--warehouse", str(tmp_path / "w.duckdb"),
                 "--outbound", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{missing}: landing folder does not exist" in err
    assert not (tmp_path / "w.duckdb").exists() and not (tmp_path / "out").exists()


def test_run_with_missing_entity_folder_names_the_entity(tmp_path: Path, capsys) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(SEEDS_DIR, landing)
    shutil.rmtree(landing / "inventory" / "snapshots")
    code = main(["run", "--landing", str(landing), "--warehouse", str(tmp_path / "w.duckdb")])
    assert code == 2
    assert "landing folder for inventory/snapshots is missing" in capsys.readouterr().err
    assert not (tmp_path / "w.duckdb").exists()


def test_adapt_with_missing_source_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["adapt", "batf", "--source", str(tmp_path / "nope"), "--out", str(tmp_path / "l")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_parser_knows_the_documented_commands() -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "--landing", "a", "--warehouse", "b", "--outbound", "c"])
    assert (args.landing, args.warehouse, args.outbound) == ("a", "b", "c")
    assert parser.parse_args(["ui"]).port == 3000
    with pytest.raises(SystemExit):
        parser.parse_args(["adapt", "unknown-dataset", "--source", "x", "--out", "y"])


def test_a_discarded_build_says_the_warehouse_is_unchanged(tmp_path: Path, capsys, monkeypatch) -> None:
    """When the swap refuses (writeback state did not verify), the user is not told the warehouse was built."""
    import orchestration.cli as cli

    def refuse(paths):
        raise cli.BuildDiscarded("writeback.audit_log row 7 does not match its hash")

    monkeypatch.setattr(cli, "run_pipeline", refuse)
    assert main(["run", "--landing", str(SEEDS_DIR), "--warehouse", str(tmp_path / "w.duckdb")]) == 1
    err = capsys.readouterr().err
    assert "the new build was discarded: writeback.audit_log row 7 does not match its hash" in err
    assert "the warehouse is as it was" in err and "was built" not in err
