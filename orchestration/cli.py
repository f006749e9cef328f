"""`retailops`: adapt public datasets, run the pipeline once, or open Dagster's UI."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.paths import PROJECT_ROOT, SEEDS_DIR, RunPaths

DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"
INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")
# What _prepare_dagster_home wrote before the project had its own dagster.yaml: replaced.
_LEGACY_INSTANCE_CONFIG = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


@dataclass
class RunSummary:
    wall_seconds: float
    mart_rows: dict[str, int] = field(default_factory=dict)
    series_fitted: int = 0
    series_fallen_back: int = 0
    files_written: list[str] = field(default_factory=list)
    writeback: list[str] = field(default_factory=list)
    ingestion: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = ["retailops run summary"]
        lines += [f"  {line}" for line in self.ingestion]
        lines += [f"  {name}: {rows} rows" for name, rows in sorted(self.mart_rows.items())]
        lines.append(f"  series forecast with Prophet: {self.series_fitted}, fallen back: {self.series_fallen_back}")
        lines += [f"  wrote {name}" for name in self.files_written]
        lines += [f"  {line}" for line in self.writeback]
        lines.append(f"  wall time: {self.wall_seconds:.1f} s")
        return "\n".join(lines)


class PipelineBlocked(RuntimeError):
    """A blocking asset check failed (rows not conserved, a critical expectation): the run stopped there."""


class BuildDiscarded(RuntimeError):
    """The build succeeded but could not replace the live warehouse (its writeback state did not verify)."""


def _prepare_dagster_home() -> Path:
    """Run history lives in .dagster_home/ (or $DAGSTER_HOME), shared by `run` and `ui`.

    Installs the project's instance settings (orchestration/dagster.yaml: run queue, one DuckDB
    writer at a time, run retries, no telemetry) unless the home has a dagster.yaml of its own.
    """
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DAGSTER_HOME)))
    home.mkdir(parents=True, exist_ok=True)
    installed = home / "dagster.yaml"
    project = INSTANCE_CONFIG.read_text(encoding="utf-8")
    current = installed.read_text(encoding="utf-8") if installed.exists() else None
    if current is None or current == _LEGACY_INSTANCE_CONFIG or current.startswith(project.splitlines()[0]):
        if current != project:
            installed.write_text(project, encoding="utf-8")
    else:
        print(f"retailops: {installed} is not the project's (orchestration/dagster.yaml); using it as it is",
              file=sys.stderr)
    return installed


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
    succeeded, so a failed run never leaves half-built tables behind. Then the writeback job sends
    the new targets to the ERP (docs/decisions/0003-writeback-jobs.md).
    """
    from ingestion.loader import LandingError, validate_landing
    from orchestration.lib.dbt_manifest import parse_dbt_project
    from orchestration.writeback import execute_writeback_job, export_writeback_defaults
    from writeback.settings import WritebackError
    from writeback.state import preserved_writeback_state

    started = time.perf_counter()
    export_writeback_defaults()
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
        from dagster._core.errors import DagsterAssetCheckFailedError

        from orchestration.definitions import defs
        from orchestration.ingestion import ingestion_summary, register_extract_dates

        _prepare_dagster_home()
        with DagsterInstance.get() as instance:
            # One run covers every extract-date partition; files already loaded are skipped.
            partition_tags = register_extract_dates(instance, paths.landing_dir, building)
            try:
                result = defs.resolve_job_def("retailops_main").execute_in_process(
                    instance=instance, raise_on_error=True, tags=partition_tags
                )
            except DagsterAssetCheckFailedError as exc:
                raise PipelineBlocked(str(exc)) from exc
            except DagsterExecutionStepExecutionError as exc:
                # A bad extract found while loading is the user's to fix: show its message, not a trace.
                if isinstance(exc.user_exception, LandingError):
                    raise exc.user_exception from exc
                raise
        summary = _summarise(building, result, started)
        summary.ingestion = ingestion_summary(building, result.run_id)
        # Review decisions or batches recorded in the live warehouse meanwhile are carried over.
        try:
            with preserved_writeback_state(paths.warehouse, building):
                os.replace(building, paths.warehouse)
        except WritebackError as exc:
            raise BuildDiscarded(str(exc)) from exc
    finally:
        building.unlink(missing_ok=True)
        paths.export()
    with DagsterInstance.get() as instance:
        summary.writeback = execute_writeback_job(instance)
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
        if event.materialization.asset_key.path == ["bi", "marts_snapshot"]:
            metadata = event.materialization.metadata
            summary.files_written.append(
                f"{metadata['duckdb_file'].value} and {metadata['parquet_dir'].value}/*.parquet "
                f"(BI snapshot {metadata['version_id'].value})"
            )
        if event.materialization.asset_key.path == ["bi", "promotion_and_stock_report"]:
            metadata = event.materialization.metadata
            summary.files_written.append(
                f"{metadata['report'].value} ({metadata['promotions_charted'].value} promotions charted)"
            )
    return summary


def _cmd_run(args: argparse.Namespace) -> int:
    from ingestion.loader import LandingError
    from writeback.settings import WritebackError

    paths = _resolve_paths(args)
    try:
        summary = run_pipeline(paths)
    except (LandingError, FileNotFoundError) as exc:
        print(f"retailops run: {exc}", file=sys.stderr)
        print("retailops run: nothing was written; the warehouse is as it was.", file=sys.stderr)
        return 2
    except BuildDiscarded as exc:
        print(f"retailops run: the new build was discarded: {exc}", file=sys.stderr)
        print("retailops run: nothing was written; the warehouse is as it was.", file=sys.stderr)
        return 1
    except WritebackError as exc:
        print(f"retailops run: the warehouse was built, but writeback failed: {exc}", file=sys.stderr)
        return 1
    except PipelineBlocked as exc:
        print(f"retailops run: stopped by a blocking check: {exc}", file=sys.stderr)
        print("retailops run: nothing was written; the warehouse is as it was.", file=sys.stderr)
        return 1
    print(summary.render())
    return 0


def _cmd_adapt(args: argparse.Namespace) -> int:
    source, out = Path(args.source), Path(args.out)
    if not source.is_dir():
        print(f"retailops adapt: source folder {source} does not exist", file=sys.stderr)
        return 2
    from ingestion.adapters.batf import adapt_batf
    from ingestion.adapters.freshretailnet import adapt_freshretailnet

    adapters = {"batf": adapt_batf, "freshretailnet": adapt_freshretailnet}
    try:
        summary = adapters[args.dataset](source, out)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
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
    from orchestration.writeback import export_writeback_defaults

    paths = _resolve_paths(args)
    paths.export()
    export_writeback_defaults()
    parse_dbt_project()
    _prepare_dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-m", "orchestration.definitions", "-h", args.host, "-p", str(args.port)]
    # Become `dagster dev` (same process), so Ctrl-C and SIGTERM reach it and stop the whole UI.
    os.chdir(PROJECT_ROOT)
    os.execv(command[0], command)


def _cmd_review(args: argparse.Namespace) -> int:
    from writeback.commands import review_decide_text, review_list_text
    from writeback.settings import WritebackError

    warehouse = Path(args.warehouse).resolve() if args.warehouse else RunPaths.from_env().warehouse
    try:
        if args.action == "list":
            print(review_list_text(warehouse, args.status))
        else:
            if bool(args.ids) == bool(args.all):
                print(f"retailops review {args.action}: give review ids or --all, not both", file=sys.stderr)
                return 2
            decision = {"approve": "approved", "reject": "rejected"}[args.action]
            print(review_decide_text(warehouse, None if args.all else args.ids, decision, args.by, args.note))
    except WritebackError as exc:
        print(f"retailops review {args.action}: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_writeback(args: argparse.Namespace) -> int:
    from writeback.commands import rollback_text
    from writeback.settings import WritebackError

    defaults = RunPaths.from_env()
    warehouse = Path(args.warehouse).resolve() if args.warehouse else defaults.warehouse
    outbound = Path(args.outbound).resolve() if args.outbound else defaults.outbound_dir
    try:
        print(rollback_text(warehouse, outbound, args.batch_id, args.by))
    except WritebackError as exc:
        print(f"retailops writeback rollback: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retailops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    adapt = commands.add_parser("adapt", help="turn a public dataset into landing extracts")
    adapt.add_argument("dataset", choices=["batf", "freshretailnet"],
                       help="batf: dunnhumby Breakfast at the Frat; freshretailnet: Dingdong FreshRetailNet-50K")
    adapt.add_argument("--source", required=True, help="folder with the dataset's files")
    adapt.add_argument("--out", required=True, help="landing folder to write")
    adapt.set_defaults(func=_cmd_adapt)

    seeds = commands.add_parser("seeds", help="regenerate the embedded sample with the generator")
    seeds.add_argument("--out", default=str(SEEDS_DIR))
    seeds.set_defaults(func=_cmd_seeds)

    review = commands.add_parser("review", help="list, approve or reject changes held for review")
    review_actions = review.add_subparsers(dest="action", required=True)
    review_list = review_actions.add_parser("list", help="the review queue (default: pending and approved)")
    review_list.add_argument("--status", default="open",
                             choices=["open", "all", "pending", "approved", "rejected", "superseded", "written"])
    for action in ("approve", "reject"):
        decide = review_actions.add_parser(action, help=f"{action} held changes by id")
        decide.add_argument("ids", nargs="*", type=int, help="review ids (see `retailops review list`)")
        decide.add_argument("--all", action="store_true", help=f"{action} every pending review")
        decide.add_argument("--by", help="who decides, for the audit log (default: $RETAILOPS_USER or login)")
        decide.add_argument("--note", help="a reason, kept in the audit log")
    for sub in (review_list, *[review_actions.choices[a] for a in ("approve", "reject")]):
        sub.add_argument("--warehouse", help="DuckDB file (default: warehouse/retail.duckdb)")
    review.set_defaults(func=_cmd_review)

    writeback = commands.add_parser("writeback", help="ERP writeback commands")
    writeback_actions = writeback.add_subparsers(dest="action", required=True)
    rollback = writeback_actions.add_parser(
        "rollback", help="write the values in force before a batch as a new compensating batch"
    )
    rollback.add_argument("batch_id")
    rollback.add_argument("--by", help="who rolls back, for the audit log (default: $RETAILOPS_USER or login)")
    rollback.add_argument("--warehouse", help="DuckDB file (default: warehouse/retail.duckdb)")
    rollback.add_argument("--outbound", help="folder of the file target (default: outbound/)")
    rollback.set_defaults(func=_cmd_writeback)

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
