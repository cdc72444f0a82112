"""Lazy package exports: a package's names import their home module on first use.

Keeps ``import interplab.<package>`` (and so ``interplab --help``) free of torch, numpy and
pandas. In a package ``__init__``::

    __getattr__, __dir__ = lazy_exports(__name__, {"Store": "interplab.core.store"}, __all__)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str], exported: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: the package's ``__name__``.
        homes: exported name -> the module that defines it.
        exported: the package's ``__all__`` (what ``dir()`` lists).
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(homes[name]), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(exported)

    return __getattr__, __dir__
