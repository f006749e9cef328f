"""dbt assets through dagster-dbt. Two selections keep the graph acyclic: the models the forecast
reads run before it, the marts that read the forecast (tag `post_forecast`) run after it."""


from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

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


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=POST_FORECAST,
    dagster_dbt_translator=translator,
    name="dbt_before_forecast",
)
def dbt_before_forecast(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """Staging, intermediate and the marts that do not read the forecast."""
    yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=POST_FORECAST,
    dagster_dbt_translator=translator,
    name="dbt_after_forecast",
)
def dbt_after_forecast(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """The marts that read forecast.* (promotion profitability, stock exposure)."""
    yield from dbt.cli(["build"], context=context).stream()
