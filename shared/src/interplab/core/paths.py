"""Where interplab keeps its files: ``INTERPLAB_HOME`` (default ``~/.interplab``).

Read by the CLI and the runners only; library functions take explicit paths and URLs.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir", "default_store_url", "interplab_home"]


def interplab_home() -> Path:
    """``$INTERPLAB_HOME`` if set, else ``~/.interplab`` (created on first use)."""
    home = Path(os.environ.get("INTERPLAB_HOME") or Path.home() / ".interplab").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def default_store_url() -> str:
    """``$INTERPLAB_STORE`` if set, else SQLite at ``$INTERPLAB_HOME/store.db``."""
    return os.environ.get("INTERPLAB_STORE") or f"sqlite:///{interplab_home() / 'store.db'}"


def default_cache_dir() -> Path:
    """``$INTERPLAB_CACHE`` if set, else ``$INTERPLAB_HOME/cache``."""
    env = os.environ.get("INTERPLAB_CACHE")
    return Path(env).expanduser() if env else interplab_home() / "cache"
