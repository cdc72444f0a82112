"""Fingerprints of the files an analysis reads, so that a rerun notices when they change.

A config field typed ``Path`` (or ``Path | None``) names an input: a file or a folder the
analysis reads (e.g. ``seglabels.score``'s ``folder`` and ``pred_probs``). :func:`plan_tasks
<interplab.core.specs.plan_tasks>` adds :func:`input_fingerprints` to the run id, so a run whose
inputs changed since it was stored runs again instead of being skipped.

A fingerprint is the size and modification time (ns) of the file, or of every file under the
folder with its relative path: what ``make`` and ``ninja`` compare. It costs one ``stat`` per
file, not a read of the data (which may be many GB); a change that keeps both size and
modification time (``cp -p`` of same-sized data) goes unnoticed, and ``--force`` reruns anyway.
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from interplab.core.errors import MissingFileError
from interplab.core.hashing import digest_json

__all__ = ["fingerprint_path", "input_fields", "input_fingerprints"]


def input_fields(config_type: type[BaseModel]) -> tuple[str, ...]:
    """Names of the fields of ``config_type`` typed ``Path`` or ``Path | None``."""
    names = []
    for name, field in config_type.model_fields.items():
        annotation = field.annotation
        options = (
            typing.get_args(annotation)
            if typing.get_origin(annotation) in (typing.Union, types.UnionType)
            else (annotation,)
        )
        if any(isinstance(o, type) and issubclass(o, Path) for o in options):
            names.append(name)
    return tuple(names)


def fingerprint_path(path: Path) -> str:
    """sha256 of the size and mtime of a file, or of every file under a folder.

    Raises:
        MissingFileError: ``path`` does not exist (the message names the directory a relative
            path was resolved against).
    """
    if not path.exists():
        where = "" if path.is_absolute() else f" (relative to the current directory {Path.cwd()})"
        raise MissingFileError(
            f"{str(path)!r} does not exist{where}; check the path, or give an absolute one."
        )
    if path.is_file():
        stat = path.stat()
        return digest_json({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    entries = []
    for root, folders, files in os.walk(path):
        folders.sort()
        for name in sorted(files):
            full = Path(root, name)
            stat = full.stat()
            entries.append([full.relative_to(path).as_posix(), stat.st_size, stat.st_mtime_ns])
    return digest_json(entries)


def input_fingerprints(config: BaseModel) -> dict[str, str]:
    """``{field: fingerprint}`` of the config's input paths that are set.

    Raises:
        MissingFileError: an input path does not exist.
    """
    out: dict[str, str] = {}
    for name in input_fields(type(config)):
        value: Any = getattr(config, name)
        if value is not None:
            try:
                out[name] = fingerprint_path(Path(value))
            except MissingFileError as error:
                raise MissingFileError(f"field {name!r}: {error}") from None
    return out
