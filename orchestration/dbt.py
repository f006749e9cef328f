"""dbt assets through dagster-dbt. Two selections keep the graph acyclic: the models the forecast
reads run before it, the marts that read the forecast (tag `post_forecast`) run after it.

Both take an optional date window (run config, or a day of `daily_window_job`'s partitions)
that becomes dbt's min_date / max_date vars for the incremental models.

What the asset catalog shows comes from dbt: descriptions, declared columns, owners
(meta.dagster.owners in dbt_project.yml and the models' YAML) and a code version per model (the
hash of its SQL, set by dagster-dbt). After each build the materialisations also carry the row
count, the columns as built and, for the main marts, key figures (orchestration/lib/table_metadata.py).
The marts carry a freshness policy that the Dagster daemon evaluates.
"""


from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    AssetSpec,
    Config,
    FreshnessPolicy,
    Output,
    TableColumn,
    TableSchema,
    daily_partitioned_config,
    define_asset_job,
    in_process_executor,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.lib.dbt_window import DateWindow, dbt_build_args, window_for_partition
from orchestration.lib.paths import DBT_PROJECT_DIR
from orchestration.lib.retries import retry_when_warehouse_locked
from orchestration.lib.table_metadata import built_columns, key_figures, row_count
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource

POST_FORECAST = "tag:post_forecast"
# The nightly build starts at 02:00 UTC (orchestration/schedules.py); planners and finance read the
# marts from 06:00. At each day's 06:00 UTC a mart must have been rebuilt in the 24 hours before,
# else the daemon marks it stale (and retailops_stale_marts_alert writes an alert).
MARTS_FRESHNESS = FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=24))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class WarehouseTranslator(DagsterDbtTranslator):
    """Asset keys equal warehouse relation names: ["marts", "fct_sell_through"]."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "snapshot", "seed"):
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("schema")

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if spec.key.path[0] == "marts" and self.get_resource_props(manifest, unique_id)["resource_type"] == "model":
            return spec.replace_attributes(freshness_policy=MARTS_FRESHNESS)
        return spec


translator = WarehouseTranslator()


class DbtBuildConfig(Config):
    """Optional date window (ISO dates) for the incremental models; none builds every date."""

    min_date: str | None = None
    max_date: str | None = None
    full_refresh: bool = False

    def build_args(self) -> list[str]:
        return dbt_build_args(DateWindow.parse(self.min_date, self.max_date), self.full_refresh)


def _with_table_metadata(event: Any, context: AssetExecutionContext, con) -> Any:
    """The materialisation with its row count, columns as built (types from DuckDB, descriptions from
    dbt's YAML) and key figures; other events (dbt test results) as they are."""
    if not isinstance(event, (Output, AssetMaterialization)):
        return event
    if isinstance(event, AssetMaterialization):
        key = event.asset_key
    else:
        key = context.asset_key_for_output(event.output_name)
    schema, table = key.path
    columns = built_columns(con, schema, table)
    if not columns:  # not built (an ephemeral model, or dropped since): nothing to add
        return event
    declared = context.assets_def.specs_by_key[key].metadata.get("dagster/column_schema")
    declared = getattr(declared, "schema", declared)  # a TableSchema, or its metadata value
    descriptions = {c.name: c.description for c in declared.columns} if declared else {}
    metadata: dict[str, Any] = {
        "dagster/column_schema": TableSchema(columns=[
            TableColumn(name, data_type.lower(), description=descriptions.get(name)) for name, data_type in columns
        ]),
        **key_figures(con, schema, table),
    }
    if _materialized(context, key) != "view":
        # Views are not counted: counting one runs its query (dagster-dbt makes the same choice).
        metadata["dagster/row_count"] = row_count(con, schema, table)
    return event.with_metadata({**event.metadata, **metadata})


def _materialized(context: AssetExecutionContext, key: AssetKey) -> str | None:
    value = context.assets_def.specs_by_key[key].metadata.get("dagster-dbt/materialization_type")
    return getattr(value, "value", value)


def _build(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
           config: DbtBuildConfig) -> Iterator[Any]:
    """`dbt build`, then the events with their table metadata, read once dbt has let go of the warehouse.

    A failed model or test still raises after the events of what was built are reported, so the
    models built before the failure keep their materialisation.
    """
    events: list[Any] = []
    failure: BaseException | None = None
    with retry_when_warehouse_locked():
        try:
            for event in dbt.cli(config.build_args(), context=context).stream():
                events.append(event)
        except Exception as error:  # reported after the events, below
            failure = error
        if failure is not None and not events:
            raise failure
    with warehouse.connect(read_only=True) as con:
        enriched = [_with_table_metadata(event, context, con) for event in events]
    yield from enriched
    if failure is not None:
        raise failure


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=POST_FORECAST,
    dagster_dbt_translator=translator,
    name="dbt_before_forecast",
    pool=WAREHOUSE_POOL,
)
def dbt_before_forecast(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                        config: DbtBuildConfig) -> Iterator[Any]:
    """Staging, intermediate and the marts that do not read the forecast."""
    yield from _build(context, dbt, warehouse, config)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=POST_FORECAST,
    dagster_dbt_translator=translator,
    name="dbt_after_forecast",
    pool=WAREHOUSE_POOL,
)
def dbt_after_forecast(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                       config: DbtBuildConfig) -> Iterator[Any]:
    """The marts that read forecast.* (promotion profitability, stock exposure, execution, exceptions)."""
    yield from _build(context, dbt, warehouse, config)


@daily_partitioned_config(start_date="2009-01-01")
def _one_day_window(start, _end) -> dict[str, Any]:
    window = window_for_partition(start.strftime("%Y-%m-%d")).dbt_vars()
    op_config = {"config": window}
    return {"ops": {"dbt_before_forecast": op_config, "dbt_after_forecast": op_config}}


# Everything downstream of ingestion, for one day: dbt rebuilds only what that day's data can
# change, then the forecast, the marts that read it and the BI snapshot. Ingestion has its own
# extract-date partitions (loaded by the main job or the landing sensor), so it is not selected.
daily_window_job = define_asset_job(
    name="retailops_daily_window",
    selection=AssetSelection.all() - AssetSelection.groups("landing", "raw", "writeback"),
    config=_one_day_window,
    executor_def=in_process_executor,
    description=(
        "dbt → forecast → dbt → BI snapshot for one day (a daily partition): the incremental dbt "
        "models rebuild only what that day's data can change."
    ),
)
