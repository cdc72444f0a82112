"""The zoo's training text: the running Python's own standard library, read deterministically.

Every machine with Python has it, so the zoo trains offline. A document is one ``.py`` file of
the standard library (code, comments and docstrings), with id its path relative to the stdlib
root (``json/decoder.py``). Tests, vendored packages, IDLE and generated or data-like modules are
left out. The held-out split is fixed by hashing the id, so it never depends on the file list.

The standard library differs between Python versions (and patch releases), so anything trained
on it must put :func:`corpus_digest` into its cache key.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from interplab.core.errors import ConfigError
from interplab.core.hashing import digest_json

__all__ = ["HELDOUT_PERCENT", "Document", "Split", "corpus_digest", "documents", "stdlib_root"]

Split = Literal["train", "heldout"]
HELDOUT_PERCENT = 10
"""About this percentage of the files (chosen by hashing their ids) is held out."""

_EXCLUDED_DIRS = frozenset(
    {
        "__pycache__", "test", "tests", "site-packages", "dist-packages", "idlelib", "turtledemo",
        "encodings", "pydoc_data", "ensurepip",
    }
)  # fmt: skip
"""Tests, third-party code, the IDLE app, codec tables and generated help text."""
_EXCLUDED_PREFIXES = ("test_", "_sysconfigdata", "config-")
"""Test modules and the build configuration (machine-specific paths)."""
_MIN_CHARS = 200
"""Shorter files (empty ``__init__.py`` and the like) are skipped."""
_SPLIT_SALT = "interplab.robustness.zoo/split-v1"


@dataclass(frozen=True)
class Document:
    """One standard-library source file."""

    doc_id: str
    """Its path relative to the stdlib root, POSIX style (``email/parser.py``)."""
    text: str
    """Its full text, newlines normalised to ``\\n``."""


def stdlib_root() -> Path:
    """The folder of the running interpreter's standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def documents(split: Split, max_docs: int | None = None) -> list[Document]:
    """The documents of one split, sorted by ``doc_id``.

    Args:
        split: ``"train"`` or ``"heldout"`` (about :data:`HELDOUT_PERCENT` % of the files).
        max_docs: keep at most this many: a deterministic sample (the first ``max_docs`` in the
            order of a salted hash of their ids, so not biased to the start of the alphabet),
            returned sorted by ``doc_id``.

    Returns:
        The documents; the same list on every call with the same Python installation.
    """
    if split not in ("train", "heldout"):
        raise ConfigError(f"split={split!r} is not known; use 'train' or 'heldout'.")
    if max_docs is not None and max_docs < 1:
        raise ConfigError(f"max_docs={max_docs} must be a positive integer (or None for all).")
    chosen = [doc for doc in _all_documents() if _split_of(doc.doc_id) == split]
    if max_docs is not None and max_docs < len(chosen):
        sample = sorted(chosen, key=lambda doc: _hash(doc.doc_id))[:max_docs]
        chosen = sorted(sample, key=lambda doc: doc.doc_id)
    return chosen


def corpus_digest() -> str:
    """sha256 of every document's id, split and text: the corpus part of a cache key."""
    return _corpus_digest()


@functools.cache
def _corpus_digest() -> str:
    listing = [
        [doc.doc_id, _split_of(doc.doc_id), hashlib.sha256(doc.text.encode()).hexdigest()]
        for doc in _all_documents()
    ]
    return digest_json({"salt": _SPLIT_SALT, "documents": listing})


@functools.cache
def _all_documents() -> tuple[Document, ...]:
    root = stdlib_root()
    found = []
    for relative in _source_files(root):
        text = (root / relative).read_text(encoding="utf-8", errors="replace")
        if len(text) >= _MIN_CHARS:
            found.append(Document(relative.as_posix(), text))
    if not found:
        raise ConfigError(
            f"no standard-library source files were found under {str(root)!r}; the zoo needs a "
            "Python installation that ships its .py sources (not only .pyc)."
        )
    return tuple(found)


def _source_files(root: Path) -> list[Path]:
    """Relative paths of the included ``.py`` files, sorted (excluded folders are not walked)."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if not _is_excluded_name(name, folder=True)]
        base = Path(folder).relative_to(root)
        found += [
            base / name for name in files if name.endswith(".py") and not _is_excluded_name(name)
        ]
    return sorted(found, key=lambda p: p.as_posix())


def _is_excluded_name(name: str, *, folder: bool = False) -> bool:
    return (folder and name in _EXCLUDED_DIRS) or name.startswith(_EXCLUDED_PREFIXES)


def _split_of(doc_id: str) -> Split:
    return "heldout" if int(_hash(doc_id), 16) % 100 < HELDOUT_PERCENT else "train"


def _hash(doc_id: str) -> str:
    return hashlib.sha256(f"{_SPLIT_SALT}:{doc_id}".encode()).hexdigest()[:16]
