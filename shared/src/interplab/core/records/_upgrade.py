"""Upgrades from older record JSON to the current :data:`SCHEMA_VERSION`.

Each step takes a dict of version ``n`` and returns version ``n + 1``; :func:`upgrade` chains
them. Add a step here whenever the schema changes, and a fixture of the old form to the tests.

Version 1 (the draft schema of the first prototypes) differs from version 2 in three ways:
metrics were bare numbers (``{"loss": 1.2}``) with units in a separate ``units`` dict;
``run_id`` did not exist (the id served as both); ``tags`` was a comma-separated string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interplab.core.errors import StoreError
from interplab.core.records._schema import SCHEMA_VERSION

__all__ = ["upgrade"]


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    units: dict[str, str] = out.pop("units", None) or {}
    package = out.get("package", "core")
    metrics: dict[str, Any] = {}
    for key, value in (out.get("metrics") or {}).items():
        name = key if "." in key else f"{package}.{key}"
        if isinstance(value, dict):
            metrics[name] = value
        else:
            metrics[name] = {"value": value, "unit": units.get(key, "")}
    out["metrics"] = metrics
    if "id" in out:  # a missing id is a validation error, not a KeyError here
        out.setdefault("run_id", out["id"])
    tags = out.get("tags") or ()
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    out["tags"] = tags
    out["schema_version"] = 2
    return out


_STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Return ``data`` upgraded to the current schema version (a new dict; input untouched)."""
    if not isinstance(data, dict):
        raise StoreError(f"a record must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version < 1 or version > SCHEMA_VERSION:
        raise StoreError(
            f"record {data.get('id')!r} has schema_version={version!r}; this interplab reads "
            f"versions 1..{SCHEMA_VERSION}. Upgrade interplab to read newer records."
        )
    while version < SCHEMA_VERSION:
        data = _STEPS[version](data)
        version += 1
    return data
