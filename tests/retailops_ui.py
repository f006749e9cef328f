"""`retailops ui` as a test fixture: started on a free port in its own process group, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def retailops_ui(env: dict[str, str], log: Path | None = None) -> Iterator[tuple[int, subprocess.Popen]]:
    """Start `retailops ui` with `env` (output to `log`, or discarded); yield (port, process).

    On exit the whole process group gets SIGTERM, then SIGKILL if it has not stopped in 30 s
    (`dagster dev` can take minutes to stop its runs).
    """
    port = free_port()
    output = log.open("wb") if log else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("retailops")), "ui", "--port", str(port)],
            env=env, start_new_session=True, stdout=output, stderr=subprocess.STDOUT,
        )
    finally:
        if log:
            output.close()  # the child holds its own copy
    try:
        yield port, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
