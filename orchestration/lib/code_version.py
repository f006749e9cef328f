"""Code versions for the Python assets: a hash of the source they run, so a change shows in the UI.

dagster-dbt gives each dbt model the hash of its SQL; this gives a Python asset the hash of the
modules (or whole packages) whose code decides what it writes. Any edit to them, comments
included, marks the asset's code as changed since its last materialisation.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path


def _source_files(module: str) -> list[Path]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"code version: no module named {module!r}")
    origin = Path(spec.origin)
    if spec.submodule_search_locations:  # a package: every module in it
        return sorted(p for p in origin.parent.rglob("*.py") if "__pycache__" not in p.parts)
    return [origin]


def source_version(*modules: str) -> str:
    """The first 12 hex digits of a SHA-256 over the source files of `modules` (dotted names)."""
    digest = hashlib.sha256()
    for module in modules:
        for path in _source_files(module):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
