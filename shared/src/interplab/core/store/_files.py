"""Export records to JSON Lines or Parquet, and import them back.

Both formats carry each record's full JSON, so an import restores records exactly; Parquet also
has the indexed columns (package, analysis, status, …) for reading with pandas or DuckDB.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from interplab.core.errors import StoreError
from interplab.core.paths import write_problem
from interplab.core.records import ExperimentRecord
from interplab.core.store._filters import RecordFilter, describe_filters, unknown_value

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from interplab.core.store._store import Store

__all__ = ["ImportResult", "export_records", "export_suffixes", "import_format", "import_records"]

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
"""File suffix → export format; each format's usual suffix comes first."""


def export_suffixes(kind: str) -> list[str]:
    """The file suffixes of export format ``kind`` (``jsonl`` or ``parquet``), usual one first."""
    return [suffix for suffix, format in _FORMATS.items() if format == kind]


def _format_of(path: Path, format: str | None) -> str:
    chosen = format or _FORMATS.get(path.suffix.lower())
    if chosen not in ("jsonl", "parquet"):
        raise StoreError(
            f"cannot tell the format of {str(path)!r} (suffix {path.suffix!r}); use a .jsonl or "
            ".parquet file name, or pass format='jsonl' / 'parquet'."
        )
    return chosen


def export_records(
    store: Store, path: str | Path, *, format: str | None = None, **filters: Any
) -> int:
    """Write the matching records to ``path`` atomically; returns how many were written.

    Filters that match no record raise :class:`StoreError` (naming an unknown experiment,
    analysis or package) and leave ``path`` as it was; without filters an empty store exports
    an empty file.
    """
    target = Path(path)
    kind = _format_of(target, format)
    implied = _FORMATS.get(target.suffix.lower())
    if implied not in (None, kind):
        raise StoreError(
            f"{str(target)!r} has the suffix of a {implied} file but the format is {kind}; "
            f"name it *{export_suffixes(kind)[0]} so that import reads it back."
        )
    records = store.query(**filters)
    if not records and RecordFilter(**filters).clauses():
        why = unknown_value(store.distinct, filters) or (
            f"no records match {describe_filters(filters)}; `interplab runs list` with the same "
            "filters shows what they select."
        )
        kept = f" and {str(target)!r} was left as it was" if target.exists() else ""
        raise StoreError(f"{why} Nothing was exported{kept}.")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "jsonl":
            with tmp.open("w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(record.model_dump_json())
                    handle.write("\n")
        else:
            _write_parquet(records, tmp)
        os.replace(tmp, target)
    except OSError as error:
        raise StoreError(
            f"cannot write the export to {str(target)!r} ({write_problem(target, error)}); "
            "give a file path in a writable folder."
        ) from None
    finally:
        with contextlib.suppress(OSError):  # e.g. its folder is a file
            tmp.unlink(missing_ok=True)
    return len(records)


def _write_parquet(records: list[ExperimentRecord], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[Any]] = {
        "id": [], "run_id": [], "package": [], "analysis": [], "status": [], "experiment": [],
        "created_at": [], "schema_version": [], "record_json": [],
    }  # fmt: skip
    for r in records:
        for name in columns:
            if name != "record_json":
                columns[name].append(getattr(r, name))
        columns["record_json"].append(r.model_dump_json())
    schema = pa.schema(
        [(name, pa.string()) for name in ("id", "run_id", "package", "analysis", "status")]
        + [
            ("experiment", pa.string()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("schema_version", pa.int32()),
            ("record_json", pa.string()),
        ]
    )
    pq.write_table(pa.table(columns, schema=schema), path)


@dataclass(frozen=True)
class ImportResult:
    """What :meth:`Store.import_file` did with the records of a file."""

    new: int = 0
    """Records whose ids the store did not hold: added."""
    replaced: int = 0
    """Records whose ids the store held with other content: overwritten (``replace=True``)."""
    unchanged: int = 0
    """Records equal to the stored ones: left alone."""

    @property
    def total(self) -> int:
        """How many records the file holds."""
        return self.new + self.replaced + self.unchanged


def import_records(store: Store, path: str | Path, *, replace: bool = False) -> ImportResult:
    """Validate every record in ``path``, then add the new (and changed) ones in one transaction.

    A record whose id is stored with other content is refused, and nothing is imported, unless
    ``replace``; records equal to the stored ones are left alone.
    """
    source = Path(path)
    kind = import_format(source)
    texts = _read_jsonl(source) if kind == "jsonl" else _read_parquet(source)
    records = []
    for where, text in texts:
        try:
            records.append(ExperimentRecord.from_json(text))
        except (ValidationError, json.JSONDecodeError) as error:
            raise StoreError(
                f"{source}:{where} is not a valid record, so nothing was imported: "
                f"{_summarize(error)}"
            ) from None
        except StoreError as error:
            raise StoreError(f"{source}:{where}: {error} Nothing was imported.") from None
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        dupes = sorted(i for i, n in Counter(ids).items() if n > 1)[:5]
        raise StoreError(
            f"{source} holds several records with the ids {dupes}, so nothing was imported; "
            "each record id must appear once."
        )

    def write(conn: Connection) -> ImportResult:
        stored = store._stored_json(conn, ids)
        changed = [r for r in records if r.id in stored and stored[r.id] != r.model_dump_json()]
        if changed and not replace:
            listed = ", ".join(r.id for r in changed[:5]) + (", …" if len(changed) > 5 else "")
            raise StoreError(
                f"{source}: {len(changed)} record(s) have ids the store holds with other content "
                f"({listed}), so nothing was imported. To overwrite the stored records with the "
                "file's versions, pass replace=True (`interplab import --replace`)."
            )
        new = [r for r in records if r.id not in stored]
        store._write(conn, [*new, *changed])
        return ImportResult(len(new), len(changed), len(records) - len(new) - len(changed))

    return store._transact(write)


def import_format(path: Path) -> str:
    """The export format of the file ``path`` to import, by its suffix.

    A directory, a missing file or an unknown suffix is a :class:`StoreError` (the CLI checks
    this before it opens, and so creates, the store).
    """
    if path.is_dir():
        raise StoreError(_folder_given(path))
    if not path.is_file():
        raise StoreError(f"import file {str(path)!r} does not exist.")
    return _format_of(path, None)


def _folder_given(folder: Path) -> str:
    """What to say when the path to import is a folder: which export files it holds, if any."""
    try:
        inside = sorted(p for p in folder.iterdir() if p.suffix.lower() in _FORMATS and p.is_file())
    except OSError:
        inside = []
    if inside:
        shown = ", ".join(repr(str(p)) for p in inside[:5]) + (", …" if len(inside) > 5 else "")
        holds = f"; it holds {shown}"
    else:
        *rest, last = _FORMATS
        holds = f"; it holds no {', '.join(rest)} or {last} file"
    return (
        f"{str(folder)!r} is a directory; pass the export file (.jsonl or .parquet, written by "
        f"`interplab export`) inside it{holds}."
    )


def _read_jsonl(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise _unreadable(path, "JSON Lines", error) from None
    return [(f"line {i}", line) for i, line in enumerate(lines, 1) if line.strip()]


def _read_parquet(path: Path) -> list[tuple[str, str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise _unreadable(path, "Parquet", error) from None
    if "record_json" not in table.column_names:
        raise StoreError(
            f"{path} has no 'record_json' column; only files written by `interplab export` "
            "(or Store.export) can be imported."
        )
    return [(f"row {i}", text) for i, text in enumerate(table.column("record_json").to_pylist())]


def _unreadable(path: Path, kind: str, error: Exception) -> StoreError:
    return StoreError(
        f"{path} is not a readable {kind} export ({error}); nothing was imported. Import a file "
        "written by `interplab export` whose suffix matches its format (.jsonl or .parquet)."
    )


def _summarize(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}"
            for e in error.errors()[:3]
        ]
        return "; ".join(parts)
    return str(error)
