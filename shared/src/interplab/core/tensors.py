"""Small tensor conversions shared by the packages (numpy <-> torch, batching)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["batch_slices", "to_numpy", "to_torch"]


def to_numpy(value: Any) -> np.ndarray:
    """A numpy view or copy of a torch tensor (any device, detached) or array-like."""
    import numpy as np

    if hasattr(value, "detach"):
        value = value.detach()
        if value.dtype.is_floating_point and value.dtype not in _numpy_float_dtypes():
            value = value.float()  # bfloat16 has no numpy dtype
        return np.asarray(value.cpu().numpy())
    return np.asarray(value)


def _numpy_float_dtypes() -> tuple[Any, ...]:
    import torch

    return (torch.float16, torch.float32, torch.float64)


def to_torch(value: Any, device: str | torch.device | None = None) -> torch.Tensor:
    """A torch tensor from an array-like (no copy for numpy arrays on CPU when possible)."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return value if device is None else value.to(device)
    tensor = torch.from_numpy(np.ascontiguousarray(value))
    return tensor if device is None else tensor.to(device)


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """``slice(0, b), slice(b, 2b), …`` covering ``range(n)``."""
    if batch_size <= 0:
        from interplab.core.errors import ConfigError

        raise ConfigError(f"batch_size={batch_size} must be positive.")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
