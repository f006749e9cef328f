"""Reading inputs from and replacing output tables in the DuckDB warehouse."""

from __future__ import annotations

import duckdb
import pandas as pd


def replace_table(con: duckdb.DuckDBPyConnection, relation: str, frame: pd.DataFrame) -> int:
    """Replace `schema.table` with `frame` in one transaction; readers see the old or the new rows."""
    schema = relation.split(".")[0]
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {schema}")
        con.register("replacement_rows", frame)
        con.execute(f"create or replace table {relation} as select * from replacement_rows")
        con.unregister("replacement_rows")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(frame)
