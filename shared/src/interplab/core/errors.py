"""The errors interplab raises for mistakes a user can fix.

Every message names the offending value and says how to fix it. The CLI catches
:class:`InterplabError`, prints the message without a traceback and exits with code 2.

Hierarchy::

    InterplabError
    ├── SpecError                  a spec file that cannot be read or validated
    ├── UnknownAnalysisError       an analysis name no installed package registers
    ├── RegistryError              two packages register one name, or a plugin fails to load
    ├── MissingExtraError          an optional dependency is not installed (names the extra)
    ├── StoreError                 a store URL, record id or import file that is wrong
    ├── CacheError                 a cache value of a type the cache cannot hold
    ├── ShapeError (ValueError)    an array of the wrong shape
    ├── ConfigError (ValueError)   an argument outside what is allowed
    └── MissingFileError (FileNotFoundError)  a file or folder the user named that is not there
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = [
    "CacheError",
    "ConfigError",
    "InterplabError",
    "MissingExtraError",
    "MissingFileError",
    "RegistryError",
    "ShapeError",
    "SpecError",
    "StoreError",
    "UnknownAnalysisError",
]


class InterplabError(Exception):
    """Base class of errors caused by user input; the CLI shows them without a traceback."""


class SpecError(InterplabError):
    """An experiment spec that cannot be read or does not validate."""


class RegistryError(InterplabError):
    """A registry conflict (two packages claim one name) or a plugin that fails to load."""


class UnknownAnalysisError(RegistryError, KeyError):
    """An analysis name that no installed package registers."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = sorted(known)
        close = difflib.get_close_matches(name, self.known, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(self.known) if self.known else "none are installed"
        super().__init__(
            f"No analysis is registered under {name!r}.{hint} Known analyses: {listing}. "
            "Run `interplab analyses` to list them with their config fields."
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class MissingExtraError(InterplabError, ImportError):
    """An optional dependency is missing; the message names the extra that provides it."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python package {module!r}, which is not installed. "
            f"Install it with `uv sync --extra {extra}` (in the interplab workspace) or "
            f"`pip install 'interplab-core[{extra}]'`."
        )


class StoreError(InterplabError):
    """A bad store URL, a missing record, or an import file that does not validate."""


class CacheError(InterplabError):
    """A value the cache cannot hold, or a cache directory that cannot be used."""


class ShapeError(InterplabError, ValueError):
    """An array or tensor whose shape does not match what the function needs."""


class ConfigError(InterplabError, ValueError):
    """An argument value outside what is allowed."""


class MissingFileError(InterplabError, FileNotFoundError):
    """A file or folder the user named that is not there (the message says what belongs there)."""
