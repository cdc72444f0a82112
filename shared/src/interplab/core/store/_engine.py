"""Engines for the store: SQLite tuned for many writers, PostgreSQL through psycopg 3."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from interplab.core.errors import MissingExtraError, StoreError
from interplab.core.paths import folder_problem

__all__ = [
    "SQLITE_BUSY_TIMEOUT_S",
    "WRITE",
    "create_store_engine",
    "normalize_url",
    "redact_url",
    "sqlite_file",
]

SQLITE_BUSY_TIMEOUT_S = 60.0
"""How long a SQLite writer waits for another process's write lock before giving up."""

WRITE = {"interplab_write": True}
"""Execution option marking a connection whose transaction writes (SQLite: BEGIN IMMEDIATE)."""


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
"""The start of a URL: a scheme and a colon (two characters at least: ``C:`` is a drive)."""


def normalize_url(url: str) -> str:
    """Accept plain paths and ``postgres://`` URLs; route PostgreSQL through psycopg 3.

    ``store.db`` or ``/abs/store.db`` becomes ``sqlite:///…``; ``postgresql://`` and
    ``postgres://`` become ``postgresql+psycopg://`` (the driver interplab installs);
    ``:memory:`` is SQLite's in-memory database (``sqlite:///:memory:``). A value that starts
    like a URL (``sqlite:/x.db``, ``postgres:/x``) but has no ``://`` is a :class:`StoreError`
    unless it is an existing path: it is a mistyped URL, not the name of a file to create.
    """
    url = url.strip()
    if not url:
        raise StoreError("the store URL is empty; use e.g. 'sqlite:///path/store.db'.")
    if url == ":memory:":
        return "sqlite:///:memory:"
    if "://" not in url:
        path = Path(url).expanduser()
        scheme = _SCHEME.match(url)
        if scheme and not path.exists():
            raise StoreError(_scheme_typo(url, scheme.group(1)))
        return f"sqlite:///{path.resolve()}"
    url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)
    return url


def _scheme_typo(url: str, scheme: str) -> str:
    """The message for ``url``, which starts like a URL with ``scheme`` but has no ``://``."""
    name = url[len(scheme) + 1 :].lstrip("/") or "store.db"
    sqlite = (
        f"'sqlite:///{name}' for a SQLite file relative to the current directory "
        f"('sqlite:////abs/path/{Path(name).name}' for an absolute one)"
    )
    postgres = "'postgresql://user@host/db' for PostgreSQL"
    forms = (
        f"{postgres}, or {sqlite}" if scheme.startswith("postgres") else f"{sqlite}, or {postgres}"
    )
    return (
        f"store {url!r} starts like a URL ({scheme + ':'!r}) but has no '://', so it would be "
        f"taken as a file path; write {forms}. To name a file whose name has a colon, start "
        "the path with './'."
    )


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite store URL (or plain path) names, or ``None``.

    ``None`` for in-memory SQLite, SQLite URI filenames (``file:…``) and every other backend.
    Opening a SQLite store creates its file: callers that only read check it exists first.
    """
    try:
        parsed = make_url(normalize_url(url))
    except (ArgumentError, ValueError, StoreError):
        return None  # opening the store reports what is wrong with the URL
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(database).expanduser()


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def create_store_engine(url: str) -> Engine:
    """An engine for ``url`` (already normalized), configured for concurrent writers."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreError(
            f"store URL {redact_url(url)!r} is not a valid SQLAlchemy URL; use "
            "'sqlite:///path/store.db' or 'postgresql://user:password@host:5432/dbname'."
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database, parsed.host)
    if backend == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingExtraError("psycopg", "postgres", "A PostgreSQL store") from None
        try:
            return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
        except (ArgumentError, ValueError) as error:
            raise StoreError(
                f"store URL {redact_url(url)!r} is rejected by SQLAlchemy "
                f"({str(error).splitlines()[0]}); use 'postgresql://user:password@host:5432/db'."
            ) from None
    try:
        return create_engine(url)
    except Exception as error:  # unknown dialect or missing driver
        raise StoreError(
            f"cannot open store {redact_url(url)!r}: {error}. interplab supports "
            "sqlite:///path/store.db (or a plain file path) and postgresql://user@host/db."
        ) from None


def _sqlite_engine(url: str, database: str | None, host: str | None = None) -> Engine:
    """A SQLite engine for ``url``; a URL SQLAlchemy rejects is a :class:`StoreError`.

    ``sqlite://name.db`` (two slashes) reads ``name.db`` as a host, which SQLite has none of:
    the message shows the three- and four-slash forms of a file path.
    """
    if database and database != ":memory:":
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"cannot open store {url!r}: its folder {str(folder)!r} cannot be created "
                f"({folder_problem(folder, error)}); point --store or INTERPLAB_STORE at a file "
                "in a writable folder."
            ) from None
    try:
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        )
    except (ArgumentError, ValueError) as error:  # ValueError: e.g. ?timeout=abc
        name = database or host or "store.db"
        why = "SQLite takes no host; a file path follows 'sqlite:///'" if host else str(error)
        raise StoreError(
            f"store URL {redact_url(url)!r} is not a valid SQLite URL ({why.splitlines()[0]}); "
            f"use 'sqlite:///{name}' for a path relative to the current directory, "
            f"'sqlite:////abs/path/{Path(name).name}' for an absolute one."
        ) from None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes can fail with SQLITE_BUSY at once,
        # without waiting; writers take the lock up front so busy_timeout applies.
        is_write = connection.get_execution_options().get("interplab_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")

    return engine
