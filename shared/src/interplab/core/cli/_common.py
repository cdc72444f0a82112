"""What every CLI command shares: consoles, option types, store and cache resolution."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from interplab.core.cache import Cache
    from interplab.core.store import Store

__all__ = [
    "StoreOption",
    "console",
    "err_console",
    "filters",
    "missing_store",
    "open_cache",
    "open_store",
    "plural",
    "store_url",
]

_WIDEST = 100_000
"""Width allowed to a table when measuring how wide it is without wrapping a cell."""


def plural(count: int, noun: str) -> str:
    """``1 run``, ``2 runs``, ``0 records``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class _Stdout(Console):
    """The console of command output: off a terminal (a pipe, a CI log, ``| tee``) it cuts nothing.

    rich assumes 80 columns when stdout is not a terminal, and squeezes tables to that width
    until names end in "…" and values disappear. Off a terminal, tables (any renderable) are
    printed at their natural width, however wide, and text lines are not wrapped. In a terminal
    the terminal's width applies, and ``COLUMNS``, when set, is the width everywhere (the
    commands' tables fold long cells there rather than cut them).
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self._to_terminal() or (os.environ.get("COLUMNS") or "").isdigit():
            super().print(*objects, **kwargs)
            return
        if all(isinstance(o, str) for o in objects):
            kwargs.setdefault("soft_wrap", True)
            super().print(*objects, **kwargs)
            return
        from rich.measure import Measurement

        unlimited = self.options.update_width(_WIDEST)
        measured = [
            Measurement.get(self, unlimited, o).maximum
            for o in objects
            if hasattr(o, "__rich_measure__")
        ]
        natural = max([m for m in measured if m < _WIDEST], default=0)  # not those that expand
        width = self._width
        self.width = max(natural, self.width)
        try:
            super().print(*objects, **kwargs)
        finally:
            self._width = width

    def _to_terminal(self) -> bool:
        """Whether stdout is a terminal (``FORCE_COLOR`` in a CI log does not make it one)."""
        isatty = getattr(self.file, "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # a closed file
            return False


console: Console = _Stdout(highlight=False)
err_console = Console(stderr=True, highlight=False)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="Store URL (default: $INTERPLAB_STORE or $INTERPLAB_HOME/store.db)."
    ),
]
CacheOption = Annotated[
    Path | None, typer.Option("--cache-dir", help="Cache folder (default: $INTERPLAB_HOME/cache).")
]
Package = Annotated[list[str] | None, typer.Option("--package", "-p", help="Only these packages.")]
AnalysisName = Annotated[
    list[str] | None, typer.Option("--analysis", "-a", help="Only these analyses.")
]
Status = Annotated[
    list[str] | None, typer.Option("--status", help="completed, failed, interrupted, running.")
]
Experiment = Annotated[
    list[str] | None, typer.Option("--experiment", "-e", help="Only these experiments.")
]
Tag = Annotated[list[str] | None, typer.Option("--tag", "-t", help="Records with all these tags.")]
Since = Annotated[
    str | None,
    typer.Option(
        "--since", help="Created at or after: an ISO date or date-time (UTC unless an offset)."
    ),
]
Where = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        "-w",
        help="Metric filter KEY OP NUMBER, e.g. 'core.pi_abs_error<0.01' (OP: < <= > >= == != "
        "or =; == is exact, so select floats by a range); repeat to combine (and).",
    ),
]


def filters(
    package: list[str] | None = None,
    analysis: list[str] | None = None,
    status: list[str] | None = None,
    experiment: list[str] | None = None,
    tag: list[str] | None = None,
    since: str | None = None,
    where: list[str] | None = None,
) -> dict[str, Any]:
    """Store filter keywords from CLI options (unset options are left out)."""
    out: dict[str, Any] = {
        "package": package or None,
        "analysis": analysis or None,
        "status": status or None,
        "experiment": experiment or None,
        "tags": tag or None,
        "since": since,
        "metrics": tuple(where or ()),
    }
    return {k: v for k, v in out.items() if v not in (None, ())}


def store_url(url: str | None, spec_store: str | None = None) -> tuple[str, str]:
    """The store URL a command uses, and where it comes from.

    That is ``--store``, ``INTERPLAB_STORE``, the spec's ``store`` (``run`` only) or the default
    (``$INTERPLAB_HOME/store.db``); an empty ``INTERPLAB_STORE`` counts as unset. Raises
    :class:`StoreError` for an empty ``--store``, a mistyped URL and an in-memory SQLite store
    (each command opens the store anew, so what one writes there is gone before anything reads
    it).
    """
    from interplab.core.errors import StoreError
    from interplab.core.paths import default_store_url

    if url is not None:
        if not url.strip():
            raise StoreError(
                "--store is empty; name a store (e.g. --store results.db or "
                "--store sqlite:///results.db), or leave --store out to use INTERPLAB_STORE or "
                "the default ($INTERPLAB_HOME/store.db)."
            )
        chosen = url, "--store"
    elif os.environ.get("INTERPLAB_STORE"):
        chosen = os.environ["INTERPLAB_STORE"], "INTERPLAB_STORE"
    elif spec_store:
        chosen = spec_store, "the spec's store"
    else:
        chosen = default_store_url(), "the default"
    if _in_memory(chosen[0]):
        raise StoreError(
            f"store {chosen[0]!r} (from {chosen[1]}) is an in-memory SQLite database, which "
            "the CLI cannot use: every command (and every run) opens the store anew, so its "
            "records would vanish; name a file instead, e.g. results.db or sqlite:///results.db."
        )
    return chosen


def _in_memory(url: str) -> bool:
    """Whether ``url`` is an in-memory SQLite store (``sqlite://``, ``:memory:``, ``mode=memory``).

    A URL that is not valid is left to opening the store, which says what is wrong with it;
    a mistyped scheme (``sqlite:/x.db``) is a :class:`StoreError` here already.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from interplab.core.store._engine import normalize_url

    try:
        parsed = make_url(normalize_url(url))
    except (ArgumentError, ValueError):
        return False
    database = parsed.database or ""
    return (
        parsed.get_backend_name() == "sqlite"
        and not parsed.host
        and (
            database in ("", ":memory:")
            or database.startswith("file::memory:")
            or parsed.query.get("mode") == "memory"
        )
    )


def missing_store(url: str | None) -> str | None:
    """Why the store ``url`` (or the default one) cannot be read: its SQLite file is not there.

    ``None`` when the file exists, and for PostgreSQL (there the server says what is wrong).
    """
    from interplab.core.store._engine import sqlite_file

    chosen, source = store_url(url)
    path = sqlite_file(chosen)
    if path is None or path.exists():
        return None
    if source == "the default":
        return (
            f"store {str(path.resolve())!r} (the default, $INTERPLAB_HOME/store.db) does not "
            "exist; run an experiment first (`interplab run SPEC`) to create it, or name an "
            "existing store with --store or INTERPLAB_STORE."
        )
    return (
        f"store {str(path.resolve())!r} (from {source}) does not exist{_four_slashes(chosen, path)}"
        "; check the path, or run an experiment first (`interplab run SPEC`) to create it."
    )


def _four_slashes(url: str, path: Path) -> str:
    """A hint when ``sqlite:///tmp/x.db`` (relative: ``./tmp/x.db``) meant ``/tmp/x.db``.

    Given when the relative path's first folder is not in the current directory but is in
    ``/``; empty otherwise.
    """
    url = url.strip()
    if path.is_absolute() or not url.startswith("sqlite:///") or not path.parts:
        return ""
    first = path.parts[0]
    if Path(first).exists() or not (Path("/") / first).exists():
        return ""
    return (
        f" (three slashes make the path relative to the current directory; for "
        f"'/{path.as_posix()}' write four: {'sqlite:////' + url.removeprefix('sqlite:///')!r})"
    )


def open_store(url: str | None, *, create: bool = False) -> Store:
    """The store at ``url`` (``--store``) or the default one.

    Commands that only read refuse a SQLite file that is not there (a mistyped path would
    otherwise silently give a new, empty store); those that write pass ``create=True``.
    """
    from interplab.core.errors import StoreError
    from interplab.core.store import Store

    if not create:
        problem = missing_store(url)
        if problem:
            raise StoreError(problem)
    return Store(store_url(url)[0])


def open_cache(path: Path | None) -> Cache:
    """The cache at ``path`` or the default one."""
    from interplab.core.cache import Cache

    return Cache(path)
