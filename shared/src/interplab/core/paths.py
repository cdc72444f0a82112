"""Where interplab keeps its files: ``INTERPLAB_HOME`` (default ``~/.interplab``).

Read by the CLI and the runners only; library functions take explicit paths and URLs.
"""

from __future__ import annotations

import os
from pathlib import Path

from interplab.core.errors import ConfigError

__all__ = [
    "default_cache_dir",
    "default_store_url",
    "folder_problem",
    "interplab_home",
    "write_problem",
]


def interplab_home() -> Path:
    """``$INTERPLAB_HOME`` if set, else ``~/.interplab`` (created on first use).

    Raises :class:`ConfigError` when the folder cannot be created or written.
    """
    home = Path(os.environ.get("INTERPLAB_HOME") or Path.home() / ".interplab").expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = folder_problem(home, error)
    else:
        if os.access(home, os.W_OK | os.X_OK):
            return home
        reason = "not writable"
    raise ConfigError(
        f"INTERPLAB_HOME={str(home)!r} cannot be created or written ({reason}); point "
        "INTERPLAB_HOME at a writable folder (or unset it to use ~/.interplab)."
    )


def default_store_url() -> str:
    """``$INTERPLAB_STORE`` if set, else SQLite at ``$INTERPLAB_HOME/store.db``."""
    return os.environ.get("INTERPLAB_STORE") or f"sqlite:///{interplab_home() / 'store.db'}"


def default_cache_dir() -> Path:
    """``$INTERPLAB_CACHE`` if set, else ``$INTERPLAB_HOME/cache``."""
    env = os.environ.get("INTERPLAB_CACHE")
    return Path(env).expanduser() if env else interplab_home() / "cache"


def folder_problem(path: Path, error: OSError) -> str:
    """Why ``path`` could not be made or written, for a message: a file in the way, or the OS's."""
    for parent in (path, *path.parents):
        if parent.exists():
            return f"{str(parent)!r} is a file" if not parent.is_dir() else str(error.strerror)
    return str(error.strerror or error)


def write_problem(path: Path, error: OSError) -> str:
    """Why the file ``path`` could not be written, for a message."""
    if path.is_dir():
        return f"{str(path)!r} is a folder; name a file"
    return folder_problem(path.parent, error)
