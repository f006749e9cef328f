"""Ingestion assets: one per landing entity, landing extracts → `raw.<system>__<entity>`."""


import uuid
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, MaterializeResult, asset

from ingestion.contract import ENTITIES, Entity
from ingestion.loader import load_entity, load_provenance
from orchestration.resources import RunFolders, WarehouseResource


def landing_key(entity: Entity) -> AssetKey:
    return AssetKey(["landing", entity.name])


def raw_key(entity: Entity) -> AssetKey:
    return AssetKey(["raw", entity.name])


# Landing extracts are produced by the source systems, not by us: external assets, so the
# lineage in the UI starts at the file drop.
landing_specs = [
    AssetSpec(
        key=landing_key(entity),
        description=f"{entity.description} Files at landing/{entity.path}/<extract_date>/.",
        group_name="landing",
        kinds={"csv", "parquet"},
    )
    for entity in ENTITIES
]


def _raw_asset(entity: Entity) -> AssetsDefinition:
    @asset(
        key=raw_key(entity),
        deps=[landing_key(entity)],
        group_name="raw",
        kinds={"duckdb"},
        description=f"Every landed extract of {entity.path}, typed per the landing contract, with load metadata.",
    )
    def _load(context: AssetExecutionContext, warehouse: WarehouseResource, folders: RunFolders) -> MaterializeResult:
        landing_dir = Path(folders.landing_dir)
        load_id = context.run_id or uuid.uuid4().hex
        with warehouse.connect() as con:
            result = load_entity(con, landing_dir, entity, load_id)
        for file, columns in result.ignored_columns.items():
            context.log.warning(f"{file}: columns not in the contract were ignored: {columns}")
        return MaterializeResult(
            metadata={"files": result.files, "rows": result.rows, "dagster/row_count": result.rows}
        )

    return _load


raw_assets = [_raw_asset(entity) for entity in ENTITIES]


@asset(
    key=AssetKey(["ops", "column_provenance"]),
    deps=[landing_key(entity) for entity in ENTITIES],
    group_name="raw",
    kinds={"duckdb"},
    description="Which landed columns are observed, derived by an adapter's documented rule, or synthetic.",
)
def column_provenance(warehouse: WarehouseResource, folders: RunFolders) -> MaterializeResult:
    with warehouse.connect() as con:
        rows = load_provenance(con, Path(folders.landing_dir))
    return MaterializeResult(metadata={"columns_described": rows})
