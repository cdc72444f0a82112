"""Content digests: canonical JSON, bytes, files, folders and tensors (all sha256, hex)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from interplab.core.errors import CacheError

__all__ = [
    "canonical_json",
    "digest_bytes",
    "digest_dir",
    "digest_file",
    "digest_json",
    "digest_tensors",
]

_READ_CHUNK = 1 << 20


def _default(obj: Any) -> Any:
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=canonical_json)
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, bytes):
        return {"__bytes_sha256__": digest_bytes(obj)}
    if hasattr(obj, "model_dump"):  # pydantic models
        return obj.model_dump(mode="json")
    numpy_scalar = getattr(obj, "ndim", None) == 0 and not hasattr(obj, "__len__")
    if type(obj).__module__ == "numpy" and numpy_scalar:
        item = obj.item()  # numpy scalars (they have a shape too) hash as the Python value
        _check_finite(item)
        return item
    if type(obj).__module__.startswith(("torch", "numpy")) and hasattr(obj, "shape"):
        return {"__tensor_sha256__": digest_tensors({"t": obj})}
    raise CacheError(
        f"cannot hash a value of type {type(obj).__name__} in a cache key; use JSON-like values "
        "(dict, list, str, int, float, bool, None), paths, pydantic models or tensors."
    )


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8; floats must be finite."""
    _check_finite(obj)
    return json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    )


def _check_finite(obj: Any) -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise CacheError(
            f"cannot hash the float {obj!r} in a cache key; use a finite number or a string."
        )
    if isinstance(obj, Mapping):
        for value in obj.values():
            _check_finite(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            _check_finite(value)


def digest_json(obj: Any) -> str:
    """sha256 of :func:`canonical_json`."""
    return digest_bytes(canonical_json(obj).encode("utf-8"))


def digest_bytes(data: bytes) -> str:
    """sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def digest_file(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    sha = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def digest_dir(path: str | Path) -> str:
    """sha256 over the relative paths and contents of every file below ``path`` (sorted)."""
    root = Path(path)
    if not root.is_dir():
        raise CacheError(
            f"cannot digest folder {str(root)!r}: it does not exist or is not a folder."
        )
    sha = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        sha.update(file.relative_to(root).as_posix().encode())
        sha.update(b"\0")
        sha.update(digest_file(file).encode())
    return sha.hexdigest()


def digest_tensors(tensors: Mapping[str, Any]) -> str:
    """sha256 over names, dtypes, shapes and bytes of torch tensors or numpy arrays.

    Equal for the same values on any device; a model's weights digest is
    ``digest_tensors(model.state_dict())``.
    """
    import numpy as np

    sha = hashlib.sha256()
    for name in sorted(tensors):
        value = tensors[name]
        if hasattr(value, "detach"):  # torch
            value = value.detach().to("cpu").contiguous()
            dtype, shape = str(value.dtype).removeprefix("torch."), tuple(value.shape)
            raw = value.view(-1).view(_byte_dtype()).numpy().tobytes() if value.numel() else b""
        else:
            array = np.asarray(value, order="C")  # ascontiguousarray makes 0-d arrays 1-d
            dtype, shape, raw = str(array.dtype), array.shape, array.tobytes()
        sha.update(f"{name}|{dtype}|{shape}|".encode())
        sha.update(raw)
    return sha.hexdigest()


def _byte_dtype() -> Any:
    import torch

    return torch.uint8
