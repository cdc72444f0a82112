"""How cache values become bytes: safetensors for tensors, JSON for small values, raw bytes."""

from __future__ import annotations

import json
from typing import Any

from interplab.core.errors import CacheError

__all__ = ["decode", "encode"]

_SINGLE = "__tensor__"


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "shape")


def encode(value: Any) -> tuple[str, bytes]:
    """Return ``(codec, payload)``; codecs: torch, torch1, numpy, numpy1, json, bytes.

    Tensors are stored on CPU; a single tensor, or a dict of tensors (all torch or all numpy).
    """
    if isinstance(value, bytes):
        return "bytes", value
    if _is_torch(value):
        return "torch1", _torch_bytes({_SINGLE: value})
    if _is_numpy(value):
        return "numpy1", _numpy_bytes({_SINGLE: value})
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        if all(_is_torch(v) for v in value.values()):
            return "torch", _torch_bytes(value)
        if all(_is_numpy(v) for v in value.values()):
            return "numpy", _numpy_bytes(value)
    try:
        text = json.dumps(value, allow_nan=True, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise CacheError(
            f"cannot cache a value of type {type(value).__name__}: {error}. The cache holds a "
            "tensor or array, a dict of tensors (all torch or all numpy), bytes, or JSON values."
        ) from None
    if not _same(json.loads(text), value):
        raise CacheError(
            f"a value of type {type(value).__name__} does not survive JSON unchanged (tuples or "
            "non-string keys?); convert it to lists and string keys before caching."
        )
    return "json", text.encode("utf-8")


def _same(loaded: Any, value: Any) -> bool:
    """``loaded == value``, except that NaN equals NaN (lists, dicts and their types compared)."""
    if isinstance(loaded, float) and isinstance(value, float) and loaded != loaded:
        return value != value
    if isinstance(loaded, dict):
        return (
            isinstance(value, dict)
            and loaded.keys() == value.keys()
            and all(_same(loaded[k], value[k]) for k in loaded)
        )
    if isinstance(loaded, list):
        return (
            isinstance(value, list)
            and len(loaded) == len(value)
            and all(_same(a, b) for a, b in zip(loaded, value, strict=True))
        )
    return bool(loaded == value)


def _torch_bytes(tensors: dict[str, Any]) -> bytes:
    from safetensors.torch import save

    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return bytes(save(cpu))


def _numpy_bytes(arrays: dict[str, Any]) -> bytes:
    import numpy as np
    from safetensors.numpy import save

    # np.asarray keeps 0-d arrays 0-d (np.ascontiguousarray would make them shape (1,))
    return bytes(save({k: np.asarray(v, order="C") for k, v in arrays.items()}))


def decode(codec: str, payload: bytes) -> Any:
    """Inverse of :func:`encode`."""
    if codec == "bytes":
        return payload
    if codec == "json":
        return json.loads(payload.decode("utf-8"))
    if codec in ("torch", "torch1"):
        from safetensors.torch import load as load_torch

        tensors = load_torch(payload)
        return tensors[_SINGLE] if codec == "torch1" else tensors
    if codec in ("numpy", "numpy1"):
        from safetensors.numpy import load as load_numpy

        arrays = load_numpy(payload)
        return arrays[_SINGLE] if codec == "numpy1" else arrays
    raise CacheError(f"unknown cache codec {codec!r}; the entry was written by a newer interplab.")
