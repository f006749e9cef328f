"""Transient failures a step should wait out: the DuckDB warehouse locked by another process.

Inside Dagster the `duckdb_writer` pool keeps steps from meeting each other on the file, but a
person's `retailops review approve`, a DuckDB shell left open or `retailops run` carrying the
writeback state into its new build can still hold the lock for a moment. Those steps ask Dagster to run them again
after a pause; any other error fails the step at once (a bad extract will not get better).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import RetryRequested

# DuckDB's message when another process holds the file (`IO Error: Could not set lock on file ...`);
# dbt passes it on in its error messages, so it also identifies a dbt build that met the lock.
WAREHOUSE_LOCKED = "Could not set lock on file"
LOCK_RETRIES = 3
LOCK_RETRY_WAIT_SECONDS = 30


def is_warehouse_locked(error: BaseException) -> bool:
    """True when `error`, or an error it was raised from, says another process holds the warehouse lock."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if WAREHOUSE_LOCKED in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


@contextmanager
def retry_when_warehouse_locked(
    max_retries: int = LOCK_RETRIES, seconds_to_wait: float = LOCK_RETRY_WAIT_SECONDS
) -> Iterator[None]:
    """Turn a warehouse-lock error raised inside the block into Dagster's RetryRequested."""
    try:
        yield
    except RetryRequested:
        raise
    except Exception as error:
        if is_warehouse_locked(error):
            raise RetryRequested(max_retries=max_retries, seconds_to_wait=seconds_to_wait) from error
        raise
