"""Dagster resources: the DuckDB warehouse and the run's folders, configured from environment variables."""


from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

# Every step that opens the warehouse file is in this Dagster concurrency pool. The instance's
# dagster.yaml gives an unconfigured pool one slot, so steps of different runs (a schedule's, a
# sensor's, `retailops run`'s) never meet on DuckDB's one-writer lock; readers too, as DuckDB
# refuses a read-only open while another process writes.
WAREHOUSE_POOL = "duckdb_writer"


class WarehouseResource(ConfigurableResource):
    """The DuckDB warehouse file. One writer at a time: every connection is closed after use."""

    path: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path, read_only=read_only)
        try:
            yield con
        finally:
            con.close()


class RunFolders(ConfigurableResource):
    """The landing folder read by ingestion and the outbound folder the ERP imports from."""

    landing_dir: str
    outbound_dir: str
    forecast_workers: int = 0  # 0 = one worker per core
