"""Device, dtype and seeding helpers.

Library code takes ``device`` and ``seed`` as arguments; only runners call
:func:`seed_everything`, once per run, and record the seed.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Literal

from interplab.core.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DeviceName",
    "check_device_name",
    "describe_device",
    "deterministic_mode",
    "resolve_device",
    "resolve_dtype",
    "seed_everything",
]

DeviceName = Literal["auto", "cpu", "cuda", "mps"]

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float64": "float64",
    "fp64": "float64",
    "double": "float64",
}


_DEVICE_FORMS = "'auto', 'cpu', 'cuda', 'cuda:N' (N = 0, 1, ...) or 'mps'"


def check_device_name(device: str) -> tuple[str, int | None]:
    """Check a device string's syntax, without torch and whatever hardware is present.

    Returns ``(kind, index)``, e.g. ``("cuda", 1)`` for ``"cuda:1"`` and ``("auto", None)``;
    case and surrounding spaces are ignored, as :func:`resolve_device` (which parses with this)
    does. Raises :class:`ConfigError` naming the accepted forms for anything else.
    """
    name = device.strip().lower() if isinstance(device, str) else ""
    kind, colon, index = name.partition(":")
    if kind in ("auto", "cpu", "cuda", "mps") and not colon:
        return kind, None
    if kind in ("cpu", "cuda", "mps") and index.isascii() and index.isdigit():
        return kind, int(index)
    raise ConfigError(f"device={device!r} is not known; use {_DEVICE_FORMS}.")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"`` into a usable device.

    ``"auto"`` picks CUDA if available, then MPS, then CPU. Asking for an accelerator that is not
    present raises :class:`ConfigError` instead of failing later inside a kernel.
    """
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    kind, index = check_device_name(device)
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={device!r} was requested but torch sees no CUDA device "
                f"(torch {torch.__version__}); use device='auto' or 'cpu'."
            )
        if (index or 0) >= torch.cuda.device_count():
            raise ConfigError(
                f"device={device!r} is out of range: {torch.cuda.device_count()} CUDA device(s); "
                f"use cuda:0..cuda:{torch.cuda.device_count() - 1}."
            )
        return torch.device("cuda" if index is None else f"cuda:{index}")
    if not _mps_available():
        raise ConfigError(
            f"device={device!r} was requested but MPS is not available; use 'auto' or 'cpu'."
        )
    return torch.device("mps")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_dtype(
    dtype: str | torch.dtype | None, device: torch.device | None = None
) -> torch.dtype:
    """Map a dtype name (``"fp32"``, ``"bf16"``, ``"float16"``, …) or ``None`` to a torch dtype.

    ``None`` means float32, except bfloat16 on CUDA devices that support it.
    """
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        if device is not None and device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    canonical = _DTYPES.get(dtype.strip().lower())
    if canonical is None:
        raise ConfigError(f"dtype={dtype!r} is not known; use one of {sorted(set(_DTYPES))}.")
    resolved: torch.dtype = getattr(torch, canonical)
    return resolved


def describe_device(device: torch.device) -> str:
    """A human-readable name, e.g. ``"cuda:0 (NVIDIA H100)"`` or ``"cpu (2 threads)"``."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all GPUs)."""
    import numpy as np
    import torch

    if not 0 <= seed < 2**32:
        raise ConfigError(f"seed={seed} is out of range; use an integer in [0, 2**32).")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def deterministic_mode(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels (ops without one raise) and a fixed cuBLAS workspace."""
    import torch

    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled
    torch.backends.cudnn.deterministic = enabled
