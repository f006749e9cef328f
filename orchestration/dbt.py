"""dbt assets through dagster-dbt. Two selections keep the graph acyclic: the models the forecast
reads run before it, the marts that read the forecast (tag `post_forecast`) run after it.

Both take an optional date window (run config, or a day of `daily_window_job`'s partitions)
that becomes dbt's min_date / max_date vars for the incremental models."""


from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Config,
    daily_partitioned_config,
    define_asset_job,
    in_process_executor,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.lib.dbt_window import DateWindow, dbt_build_args, window_for_partition
from orchestration.lib.paths import DBT_PROJECT_DIR

POST_FORECAST = "tag:post_forecast"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class WarehouseTranslator(DagsterDbtTranslator):
    """Asset keys equal warehouse relation names: ["marts", "fct_sell_through"]."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "snapshot", "seed"):
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("schema")


translator = WarehouseTranslator()


class DbtBuildConfig(Config):
    """Optional date window (ISO dates) for the incremental models; none builds every date."""

    min_date: str | None = None
    max_date: str | None = None
    full_refresh: bool = False

    def build_args(self) -> list[str]:
        return dbt_build_args(DateWindow.parse(self.min_date, self.max_date), self.full_refresh)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=POST_FORECAST,
    dagster_dbt_translator=translator,
    name="dbt_before_forecast",
)
def dbt_before_forecast(context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig) -> Iterator[Any]:
    """Staging, intermediate and the marts that do not read the forecast."""
    yield from dbt.cli(config.build_args(), context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=POST_FORECAST,
    dagster_dbt_translator=translator,
    name="dbt_after_forecast",
)
def dbt_after_forecast(context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig) -> Iterator[Any]:
    """The marts that read forecast.* (promotion profitability, stock exposure)."""
    yield from dbt.cli(config.build_args(), context=context).stream()


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
