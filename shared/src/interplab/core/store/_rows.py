"""Records as table rows, and the fast bulk insert of those rows.

Rows are tuples in the column order of :data:`COLUMNS`, built once per record; the insert goes
straight to the driver's ``executemany`` (SQLAlchemy's per-row parameter processing dominated
bulk inserts; see ``nox -s bench``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, DateTime, Table

from interplab.core.records import ExperimentRecord

__all__ = ["COLUMNS", "flatten_params", "insert_rows", "record_rows"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": (
        "id", "run_id", "package", "analysis", "status", "experiment", "created_at",
        "finished_at", "schema_version", "record_json",
    ),
    "metrics": ("record_id", "key", "value", "unit", "higher_is_better"),
    "params": ("record_id", "key", "value_json"),
    "tags": ("record_id", "tag"),
}  # fmt: skip


def flatten_params(params: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` → ``("a.b", 1)``; lists and empty dicts stay values."""
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from flatten_params(value, f"{name}.")
        else:
            yield name, value


def record_rows(records: Sequence[ExperimentRecord]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows for every table, in :data:`COLUMNS` order."""
    runs: list[tuple[Any, ...]] = []
    metrics: list[tuple[Any, ...]] = []
    params: list[tuple[Any, ...]] = []
    tags: list[tuple[Any, ...]] = []
    for r in records:
        finished = r.finished_at.astimezone(UTC) if r.finished_at else None
        # UTC, so that SQLite's text timestamps compare and sort as instants
        runs.append(
            (
                r.id, r.run_id, r.package, r.analysis, r.status, r.experiment,
                r.created_at.astimezone(UTC), finished, r.schema_version, r.model_dump_json(),
            )
        )  # fmt: skip
        rid = r.id
        for key, m in r.metrics.items():
            value = None if math.isnan(m.value) else m.value  # NULL: PostgreSQL orders NaN > x
            metrics.append((rid, key, value, m.unit, m.higher_is_better))
        # dict(): {"a.b": 1, "a": {"b": 2}} flatten to one key; the later value wins
        for key, value in dict(flatten_params(r.params)).items():
            params.append((rid, key, json.dumps(value)))
        tags.extend((rid, tag) for tag in dict.fromkeys(r.tags))
    return {"runs": runs, "metrics": metrics, "params": params, "tags": tags}


def insert_rows(conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """``executemany`` of ``rows`` (tuples in :data:`COLUMNS` order) through the driver.

    Datetimes go through the dialect's own converter (SQLite stores them as text in
    SQLAlchemy's format, which queries compare against).
    """
    if not rows:
        return
    dialect = conn.dialect
    columns = COLUMNS[table.name]
    compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
    converters = [
        (i, proc)
        for i, name in enumerate(columns)
        if isinstance(table.c[name].type, DateTime)
        and (proc := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    if converters:
        converted = []
        for row in rows:
            values = list(row)
            for i, proc in converters:
                values[i] = proc(values[i])
            converted.append(tuple(values))
        rows = converted
    params: list[Any]
    if dialect.positional:
        order = [columns.index(name) for name in compiled.positiontup or []]
        params = rows if order == list(range(len(columns))) else [
            tuple(row[i] for i in order) for row in rows
        ]  # fmt: skip
    else:
        params = [dict(zip(columns, row, strict=True)) for row in rows]
    conn.exec_driver_sql(str(compiled), params)
