"""Store contents as pandas DataFrames, built in SQL (only the seed is read from record JSON)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Connection, select

from interplab.core.store._tables import metrics, params, runs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["long_frame", "wide_frame"]

_RUN_COLUMNS = ("id", "run_id", "package", "analysis", "status", "experiment", "created_at")


_DECODER = json.JSONDecoder()


def _seeds(conn: Connection, clauses: list[ColumnElement[bool]]) -> dict[str, int | None]:
    """The run's seed (``env.seed``) of every matching record, by record id."""
    rows = conn.execute(select(runs.c.id, runs.c.record_json).where(*clauses))
    return {record_id: _seed_of(text) for record_id, text in rows}


def _seed_of(record_json: str) -> int | None:
    """``env.seed`` of a record's JSON, decoding only its ``env`` object.

    That is the last ``"env":{`` of the compact JSON: params, metrics and artifacts come before
    it, and every later field is a string or a list of strings.
    """
    start = record_json.rfind('"env":{')
    if start < 0:
        return None
    env, _ = _DECODER.raw_decode(record_json, start + len('"env":'))
    seed = env.get("seed")
    return seed if isinstance(seed, int) else None


def long_frame(conn: Connection, clauses: list[ColumnElement[bool]]) -> pd.DataFrame:
    """One row per (record, metric), with the run's ``seed``."""
    import pandas as pd

    stmt = (
        select(
            *(runs.c[name] for name in _RUN_COLUMNS),
            metrics.c.key.label("metric"),
            metrics.c.value,
            metrics.c.unit,
            metrics.c.higher_is_better,
        )
        .join(metrics, metrics.c.record_id == runs.c.id)
        .where(*clauses)
        .order_by(runs.c.created_at, runs.c.id, metrics.c.key)
    )
    result = conn.execute(stmt)
    frame = pd.DataFrame(list(map(tuple, result)), columns=list(result.keys()))
    frame["value"] = frame["value"].astype("float64")
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)  # SQLite gives naive UTC
    seeds = _seeds(conn, clauses)
    frame.insert(len(_RUN_COLUMNS), "seed", frame["id"].map(seeds).astype("Int64"))
    return frame


def wide_frame(
    conn: Connection, clauses: list[ColumnElement[bool]], *, with_params: bool
) -> pd.DataFrame:
    """One row per record; ``seed``, metric keys and ``param.<key>`` as columns."""
    import pandas as pd

    result = conn.execute(
        select(*(runs.c[name] for name in _RUN_COLUMNS))
        .where(*clauses)
        .order_by(runs.c.created_at, runs.c.id)
    )
    base = pd.DataFrame(list(map(tuple, result)), columns=list(result.keys()))
    base["created_at"] = pd.to_datetime(base["created_at"], utc=True)  # SQLite gives naive UTC
    base["seed"] = base["id"].map(_seeds(conn, clauses)).astype("Int64")  # NA: none recorded
    ids = select(runs.c.id).where(*clauses)
    rows = [
        tuple(row)
        for row in conn.execute(
            select(metrics.c.record_id, metrics.c.key, metrics.c.value).where(
                metrics.c.record_id.in_(ids)
            )
        )
    ]
    if rows:
        values = pd.DataFrame(rows, columns=["id", "key", "value"]).pivot(
            index="id", columns="key", values="value"
        )
        base = base.join(values.astype("float64"), on="id")
    if with_params:
        prow = [
            tuple(row)
            for row in conn.execute(
                select(params.c.record_id, params.c.key, params.c.value_json).where(
                    params.c.record_id.in_(ids)
                )
            )
        ]
        if prow:
            decoded = pd.DataFrame(
                [(r, f"param.{k}", json.loads(v)) for r, k, v in prow], columns=["id", "key", "v"]
            ).pivot(index="id", columns="key", values="v")
            base = base.join(decoded, on="id")
    return base
