"""The :class:`Store`: experiment records in SQLite (default) or PostgreSQL, same code."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import Connection, delete, func, select, text
from sqlalchemy.exc import DatabaseError, DataError, IntegrityError, OperationalError

from interplab.core.errors import StoreError
from interplab.core.paths import default_store_url
from interplab.core.records import SCHEMA_VERSION, ExperimentRecord
from interplab.core.store._engine import WRITE, create_store_engine, normalize_url, redact_url
from interplab.core.store._filters import RecordFilter, unknown_value
from interplab.core.store._rows import insert_rows, record_rows
from interplab.core.store._tables import metadata, metrics, params, runs, tags

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from interplab.core.store._files import ImportResult

__all__ = ["Store"]

_CHUNK = 500  # ids per IN (...) clause; well under every backend's parameter limit
_RETRIES = 5
T = TypeVar("T")


class Store:
    """Experiment records behind a SQLAlchemy URL.

    ``Store()`` opens ``$INTERPLAB_HOME/store.db`` (SQLite, WAL mode, 60 s busy timeout, safe for
    several processes writing at once); ``Store("postgresql://user@host/db")`` uses PostgreSQL
    with the same code. Adding a record whose id exists replaces it, so reruns are idempotent.

    Filters (``package=``, ``analysis=``, ``status=``, ``tags=``, ``since=``, ``metrics=``, …) are
    the fields of :class:`RecordFilter` and work the same in :meth:`query`, :meth:`count`,
    :meth:`delete_where`, :meth:`to_frame` and the exports.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = normalize_url(url or default_store_url())
        self.engine = create_store_engine(self.url)
        self.dialect = self.engine.dialect.name
        self._create_tables()

    def __repr__(self) -> str:
        return f"Store({redact_url(self.url)!r})"

    def close(self) -> None:
        """Release connections (the store can be used again afterwards)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def add(self, record: ExperimentRecord) -> None:
        """Insert ``record``, replacing any record with the same id."""
        self.add_many([record])

    def add_many(self, records: Iterable[ExperimentRecord]) -> int:
        """Insert records in one transaction, replacing those whose ids exist; returns the count.

        All or nothing: if any row fails, none is written.
        """
        batch = list(records)
        if not batch:
            return 0
        ids = [r.id for r in batch]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise StoreError(f"records to add share ids {dupes}; each record id must be unique.")
        self._transact(lambda conn: self._write(conn, batch))
        return len(batch)

    def replace_run(self, run_id: str, records: Sequence[ExperimentRecord]) -> None:
        """Atomically replace every record of ``run_id`` with ``records`` (all of that run)."""
        batch = list(records)
        strays = [r.id for r in batch if r.run_id != run_id]
        if strays:
            raise StoreError(f"records {strays[:3]} do not belong to run {run_id!r}.")
        ids = [r.id for r in batch]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise StoreError(
                f"records of run {run_id!r} share ids {dupes}; each record id must be unique. Ids "
                "are '<run_id>-<key>' from ctx.record(..., key=...), with characters outside "
                "A-Z a-z 0-9 _ . - replaced by '_' (key='layer 1' and key='layer/1' both give "
                "'layer_1'); give each record a distinct key."
            )
        rows = record_rows(batch)

        def write(conn: Connection) -> None:
            old = list(conn.scalars(select(runs.c.id).where(runs.c.run_id == run_id)))
            self._delete_ids(conn, list(dict.fromkeys([*old, *ids])))
            for table in (runs, metrics, params, tags):
                insert_rows(conn, table, rows[table.name])

        self._transact(write)

    def delete(self, ids: str | Sequence[str]) -> int:
        """Delete records by id; returns how many existed."""
        id_list = [ids] if isinstance(ids, str) else list(ids)
        return self._transact(lambda conn: self._delete_ids(conn, id_list))

    def delete_where(self, **filters: Any) -> int:
        """Delete every record matching the filters (at least one filter is required)."""
        clauses = RecordFilter(**filters).clauses()
        if not clauses:
            raise StoreError("delete_where() needs at least one filter; use delete_all() to empty.")

        def write(conn: Connection) -> int:
            ids = list(conn.scalars(select(runs.c.id).where(*clauses)))
            return self._delete_ids(conn, ids)

        return self._transact(write)

    def delete_all(self) -> int:
        """Delete every record."""

        def write(conn: Connection) -> int:
            count = conn.scalar(select(func.count()).select_from(runs)) or 0
            for table in (metrics, params, tags, runs):
                conn.execute(delete(table))
            return int(count)

        return self._transact(write)

    # ------------------------------------------------------------------ reading

    def get(self, record_id: str) -> ExperimentRecord:
        """The record with this id, or with this unique id prefix (as the CLI accepts)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(runs.c.record_json, runs.c.schema_version).where(runs.c.id == record_id)
            ).first()
            if row is None:
                # substr, not LIKE: SQLite's LIKE ignores case, so prefixes would differ by backend
                prefix = func.substr(runs.c.id, 1, len(record_id)) == record_id
                rows = conn.execute(
                    select(runs.c.record_json, runs.c.schema_version, runs.c.id)
                    .where(prefix)
                    .order_by(runs.c.id)
                    .limit(6)
                ).all()
                if len(rows) > 1:
                    raise _ambiguous(record_id, [r.id for r in rows])
                if rows:
                    return _parse(rows[0].record_json, rows[0].schema_version)
                raise self._missing(record_id)
        return _parse(row.record_json, row.schema_version)

    def resolve(self, ref: str) -> list[ExperimentRecord]:
        """The records a CLI argument names, oldest first.

        That is the record with id ``ref`` or with that unique id prefix, or every record of the
        run whose ``run_id`` is ``ref`` or starts with it (when that run is the only one
        matching). A run's records have ids ``<run_id>-…``; its marker record (failed,
        interrupted) has the run id itself. Several runs matching is a :class:`StoreError`.
        """
        with self.engine.connect() as conn:
            own_run = conn.scalar(select(runs.c.run_id).where(runs.c.id == ref))
            if own_run is not None and own_run != ref:
                return [self.get(ref)]  # the exact id of a record
            is_run = own_run is not None or conn.scalar(
                select(runs.c.id).where(runs.c.run_id == ref).limit(1)
            )
            if not is_run:
                # substr, not LIKE (see get); a prefix of a record id or of a run id
                matching = (func.substr(runs.c.id, 1, len(ref)) == ref) | (
                    func.substr(runs.c.run_id, 1, len(ref)) == ref
                )
                run_ids = list(conn.scalars(
                    select(runs.c.run_id).where(matching).distinct().limit(2)
                ))  # fmt: skip
                ids = list(conn.scalars(
                    select(runs.c.id).where(matching).order_by(runs.c.id).limit(6)
                ))  # fmt: skip
                if not ids:
                    raise self._missing(ref)
                if len(run_ids) > 1 or not (len(ids) == 1 or run_ids[0].startswith(ref)):
                    raise _ambiguous(ref, ids)
                if len(ids) == 1:
                    return [self.get(ids[0])]
                ref = run_ids[0]
        return self.query(run_id=ref)

    def query(
        self, *, limit: int | None = None, newest_first: bool = False, **filters: Any
    ) -> list[ExperimentRecord]:
        """Records matching the filters, oldest first (or newest first), at most ``limit``."""
        order = (
            (runs.c.created_at.desc(), runs.c.id.desc())
            if newest_first
            else (
                runs.c.created_at,
                runs.c.id,
            )
        )
        stmt = (
            select(runs.c.record_json, runs.c.schema_version)
            .where(*RecordFilter(**filters).clauses())
            .order_by(*order)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [_parse(r.record_json, r.schema_version) for r in conn.execute(stmt)]

    def count(self, **filters: Any) -> int:
        """How many records match the filters."""
        stmt = select(func.count()).select_from(runs).where(*RecordFilter(**filters).clauses())
        with self.engine.connect() as conn:
            return int(conn.scalar(stmt) or 0)

    def distinct(self, field: str) -> list[str]:
        """Sorted stored values of a field: what its filter can match.

        ``field`` is ``package``, ``analysis``, ``status``, ``experiment`` or ``metric``
        (metric keys).
        """
        if field not in ("package", "analysis", "status", "experiment", "metric"):
            raise StoreError(f"distinct({field!r}): use package, analysis, status, experiment "
                             "or metric.")  # fmt: skip
        column = metrics.c.key if field == "metric" else runs.c[field]
        with self.engine.connect() as conn:
            return sorted(v for v in conn.scalars(select(column).distinct()) if v is not None)

    def check_known(self, **filters: Any) -> None:
        """Refuse an ``experiment``, ``analysis`` or ``package`` value no stored record has.

        Such a filter would silently match nothing; the :class:`StoreError` names the value, a
        close match and the known values.
        """
        problem = unknown_value(self.distinct, filters)
        if problem:
            raise StoreError(problem)

    def completed_run_ids(self, run_ids: Iterable[str]) -> set[str]:
        """Those of ``run_ids`` that have completed records (and no running/failed one)."""
        wanted = list(dict.fromkeys(run_ids))
        done: set[str] = set()
        unfinished: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                stmt = select(runs.c.run_id, runs.c.status).where(runs.c.run_id.in_(chunk))
                for run_id, status in conn.execute(stmt.distinct()):
                    (done if status == "completed" else unfinished).add(run_id)
        return done - unfinished

    def to_frame(
        self, *, wide: bool = False, with_params: bool = True, **filters: Any
    ) -> pd.DataFrame:
        """Metrics as a pandas DataFrame.

        Long (default): one row per (record, metric) with columns ``id, run_id, package,
        analysis, status, experiment, created_at, seed, metric, value, unit,
        higher_is_better``. Wide: one row per record with ``id`` … ``created_at``, ``seed``,
        one column per metric key, plus ``param.<key>`` columns (flattened config) when
        ``with_params``. ``seed`` is the run's seed (``env.seed``; missing for placeholders).
        """
        from interplab.core.store._frames import long_frame, wide_frame

        clauses = RecordFilter(**filters).clauses()
        with self.engine.connect() as conn:
            if wide:
                return wide_frame(conn, clauses, with_params=with_params)
            return long_frame(conn, clauses)

    # ------------------------------------------------------------------ files

    def export(self, path: str | Path, *, format: str | None = None, **filters: Any) -> int:
        """Write matching records to ``.jsonl`` or ``.parquet`` (by suffix or ``format``)."""
        from interplab.core.store._files import export_records

        return export_records(self, path, format=format, **filters)

    def import_file(self, path: str | Path, *, replace: bool = False) -> ImportResult:
        """Add the records of a ``.jsonl`` or ``.parquet`` export; all validate or none is added.

        Records equal to stored ones are left alone (counted as ``unchanged``). A record whose
        id is stored with other content is refused, and then nothing is imported, unless
        ``replace`` is true: then the file's version overwrites the stored one.
        """
        from interplab.core.store._files import import_records

        return import_records(self, path, replace=replace)

    # ------------------------------------------------------------------ internals

    def _transact(self, write: Callable[[Connection], T]) -> T:
        """Run ``write`` in one transaction, retried on lock contention and concurrent upserts."""
        for attempt in range(_RETRIES):
            try:
                with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                    return write(conn)
            except (IntegrityError, OperationalError, DataError) as error:
                if attempt == _RETRIES - 1 or not _is_transient(error):
                    raise StoreError(f"writing to {self!r} failed: {error.orig}") from error
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def _write(self, conn: Connection, batch: Sequence[ExperimentRecord]) -> None:
        """Insert ``batch`` (unique ids), replacing the stored records with those ids."""
        rows = record_rows(batch)
        self._delete_ids(conn, [r.id for r in batch])
        for table in (runs, metrics, params, tags):
            insert_rows(conn, table, rows[table.name])

    def _stored_json(self, conn: Connection, ids: Sequence[str]) -> dict[str, str]:
        """Stored records' JSON by id, as this code writes it (so equal content is equal)."""
        out = {}
        for chunk in _chunks(ids):
            stmt = select(runs.c.id, runs.c.record_json, runs.c.schema_version)
            for row in conn.execute(stmt.where(runs.c.id.in_(chunk))):
                try:
                    out[row.id] = _parse(row.record_json, row.schema_version).model_dump_json()
                except StoreError:  # no longer validates: differs from any valid record
                    out[row.id] = row.record_json
        return out

    def _missing(self, record_id: str) -> StoreError:
        return StoreError(
            f"no record with id {record_id!r} in {self!r}; `interplab runs list` shows the ids."
        )

    def _delete_ids(self, conn: Connection, ids: Sequence[str]) -> int:
        removed = 0
        for chunk in _chunks(ids):
            for table in (metrics, params, tags):
                conn.execute(delete(table).where(table.c.record_id.in_(chunk)))
            removed += conn.execute(delete(runs).where(runs.c.id.in_(chunk))).rowcount
        return removed

    def _create_tables(self) -> None:
        try:
            with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                if self.dialect == "postgresql":  # serialise concurrent first-time creation
                    conn.execute(text("SELECT pg_advisory_xact_lock(7262761)"))
                metadata.create_all(conn)
        except DatabaseError as error:  # OperationalError, or a file that is not a database
            fix = (
                "Check that the path is a SQLite store made by interplab, or name a new file."
                if self.dialect == "sqlite"
                else "Check the URL, that the server is running and that the database exists."
            )
            raise StoreError(f"cannot open store {self!r}: {error.orig}. {fix}") from None


def _ambiguous(prefix: str, ids: Sequence[str]) -> StoreError:
    """The error for a prefix that matches ``ids`` (up to 6 of them: 6 means "more")."""
    listed = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
    return StoreError(
        f"record id prefix {prefix!r} is ambiguous: it matches {listed}; give more characters."
    )


def _is_transient(error: Exception) -> bool:
    if isinstance(error, IntegrityError):
        return True  # two writers upserted the same id; the retry deletes the winner's row
    message = str(getattr(error, "orig", error)).lower()
    return "locked" in message or "busy" in message or "deadlock" in message


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _parse(record_json: str, schema_version: int) -> ExperimentRecord:
    try:
        if schema_version == SCHEMA_VERSION:
            return ExperimentRecord.model_validate_json(record_json)
        return ExperimentRecord.from_json(record_json)
    except ValidationError as error:  # e.g. an infinite metric stored by an older version
        record_id = json.loads(record_json).get("id", "?")
        raise StoreError(
            f"stored record {record_id!r} no longer validates ({error.errors()[0]['msg']}); "
            f"delete it with `interplab runs delete {record_id}`."
        ) from None
