"""`retailops`: adapt public datasets, run the pipeline once, or open Dagster's UI."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.paths import PROJECT_ROOT, SEEDS_DIR, RunPaths

DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"


@dataclass
class RunSummary:
    wall_seconds: float
    mart_rows: dict[str, int] = field(default_factory=dict)
    series_fitted: int = 0
    series_fallen_back: int = 0
    files_written: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = ["retailops run summary"]
        lines += [f"  {name}: {rows} rows" for name, rows in sorted(self.mart_rows.items())]
        lines.append(f"  series forecast with Prophet: {self.series_fitted}, fallen back: {self.series_fallen_back}")
        lines += [f"  wrote {name}" for name in self.files_written]
        lines.append(f"  wall time: {self.wall_seconds:.1f} s")
        return "\n".join(lines)


def _prepare_dagster_home() -> None:
    """Run history lives in .dagster_home/ (or $DAGSTER_HOME), shared by `run` and `ui`; no telemetry."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DAGSTER_HOME)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")


def _resolve_paths(args: argparse.Namespace) -> RunPaths:
    defaults = RunPaths.from_env()
    return RunPaths(
        landing_dir=Path(args.landing).resolve() if args.landing else defaults.landing_dir,
        warehouse=Path(args.warehouse).resolve() if args.warehouse else defaults.warehouse,
        outbound_dir=Path(args.outbound).resolve() if args.outbound else defaults.outbound_dir,
    )


def run_pipeline(paths: RunPaths) -> RunSummary:
    """Materialise every asset once into `paths.warehouse`; on failure the previous warehouse stays.

    The run works on a copy of the warehouse and renames it into place only when every asset
    succeeded, so a failed run never leaves half-built tables behind.
    """
    from ingestion.loader import LandingError, validate_landing
    from orchestration.lib.dbt_manifest import parse_dbt_project

    started = time.perf_counter()
    validate_landing(paths.landing_dir)
    parse_dbt_project()
    paths.warehouse.parent.mkdir(parents=True, exist_ok=True)
    building = paths.warehouse.with_name(f".{paths.warehouse.name}.building")
    building.unlink(missing_ok=True)
    if paths.warehouse.exists():
        shutil.copyfile(paths.warehouse, building)
    RunPaths(paths.landing_dir, building, paths.outbound_dir).export()
    try:
        from dagster import DagsterExecutionStepExecutionError, DagsterInstance

        from orchestration.definitions import defs

        _prepare_dagster_home()
        with DagsterInstance.get() as instance:
            try:
                result = defs.resolve_job_def("retailops_main").execute_in_process(
                    instance=instance, raise_on_error=True
                )
            except DagsterExecutionStepExecutionError as exc:
                # A bad extract found while loading is the user's to fix: show its message, not a trace.
                if isinstance(exc.user_exception, LandingError):
                    raise exc.user_exception from exc
                raise
        summary = _summarise(building, result, started)
        os.replace(building, paths.warehouse)
    finally:
        building.unlink(missing_ok=True)
        paths.export()
    summary.wall_seconds = time.perf_counter() - started
    return summary


def _summarise(warehouse: Path, result, started: float) -> RunSummary:
    import duckdb

    summary = RunSummary(wall_seconds=time.perf_counter() - started)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        marts = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
        for (name,) in marts:
            summary.mart_rows[f"marts.{name}"] = con.execute(f"select count(*) from marts.{name}").fetchone()[0]
        counts = dict(con.execute("select status, count(*) from forecast.series_fit_log group by 1").fetchall())
    summary.series_fitted = counts.get("fitted", 0)
    summary.series_fallen_back = counts.get("fallback", 0)
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization.asset_key.path == ["writeback", "erp_outbound_files"]:
            manifest = Path(materialization.metadata["manifest"].value)
            summary.files_written.append(str(manifest))
            for entry in json.loads(manifest.read_text())["files"]:
                summary.files_written.append(f"{manifest.parent / entry['file']} ({entry['row_count']} rows)")
    return summary


def _cmd_run(args: argparse.Namespace) -> int:
    from ingestion.loader import LandingError

    paths = _resolve_paths(args)
    try:
        summary = run_pipeline(paths)
    except (LandingError, FileNotFoundError) as exc:
        print(f"retailops run: {exc}", file=sys.stderr)
        print("retailops run: nothing was written; the warehouse is as it was.", file=sys.stderr)
        return 2
    print(summary.render())
    return 0


def _cmd_adapt(args: argparse.Namespace) -> int:
    source, out = Path(args.source), Path(args.out)
    if not source.is_dir():
        print(f"retailops adapt: source folder {source} does not exist", file=sys.stderr)
        return 2
    from ingestion.adapters.batf import adapt_batf

    adapters = {"batf": adapt_batf}
    try:
        summary = adapters[args.dataset](source, out)
    except (FileExistsError, ValueError) as exc:
        print(f"retailops adapt: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def _cmd_seeds(args: argparse.Namespace) -> int:
    from ingestion.generator import generate_seeds

    print(generate_seeds(Path(args.out)))
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from orchestration.lib.dbt_manifest import parse_dbt_project

    paths = _resolve_paths(args)
    paths.export()
    parse_dbt_project()
    _prepare_dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-m", "orchestration.definitions", "-h", args.host, "-p", str(args.port)]
    return subprocess.call(command, cwd=PROJECT_ROOT)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retailops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    adapt = commands.add_parser("adapt", help="turn a public dataset into landing extracts")
    adapt.add_argument("dataset", choices=["batf"], help="batf: dunnhumby Breakfast at the Frat")
    adapt.add_argument("--source", required=True, help="folder with the dataset's files")
    adapt.add_argument("--out", required=True, help="landing folder to write")
    adapt.set_defaults(func=_cmd_adapt)

    seeds = commands.add_parser("seeds", help="regenerate the embedded sample with the generator")
    seeds.add_argument("--out", default=str(SEEDS_DIR))
    seeds.set_defaults(func=_cmd_seeds)

    for name, helptext, func in (
        ("run", "materialise every asset once and print a summary", _cmd_run),
        ("ui", "Dagster's UI on 127.0.0.1 for the same definitions", _cmd_ui),
    ):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("--landing", help="landing folder (default: seeds/ or $RETAILOPS_LANDING_DIR)")
        sub.add_argument("--warehouse", help="DuckDB file (default: warehouse/retail.duckdb)")
        sub.add_argument("--outbound", help="folder for ERP import files (default: outbound/)")
        sub.set_defaults(func=func)
        if name == "ui":
            sub.add_argument("--host", default="127.0.0.1")
            sub.add_argument("--port", type=int, default=3000)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
