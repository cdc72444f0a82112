"""Checked, batched access to ``labels`` and ``pred_probs`` of any size.

Legend: N images, K classes, H×W pixels. ``labels`` int (N, H, W) in ``[0, K)`` (or the ignore
index); ``pred_probs`` float (N, K, H, W), summing to 1 over K. Either may be a numpy array, a
torch tensor or a memory-mapped array: batches are read one at a time, so memory stays bounded
by the batch, never a dense float64 copy of the whole input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from interplab.core.errors import ConfigError, ShapeError

__all__ = ["Batch", "check_inputs", "iter_batches"]

PROB_TOLERANCE = 1e-3
"""How far from 1 the sum of a pixel's probabilities over K may be (float16 outputs need ~1e-3)."""
_BATCH_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Batch:
    """Images ``start:stop`` of the dataset as numpy arrays."""

    start: int
    stop: int
    labels: np.ndarray
    """int64 (B, H, W)."""
    pred_probs: np.ndarray
    """float (B, K, H, W), the input's dtype."""
    valid: np.ndarray | None
    """bool (B, H, W): pixels not equal to the ignore index; ``None`` when there is none."""


def _shape(array: Any) -> tuple[int, ...]:
    shape = getattr(array, "shape", None)
    if shape is None:
        raise ShapeError(
            f"expected an array (numpy, torch or memmap), got {type(array).__name__}; "
            "convert it with np.asarray first."
        )
    return tuple(int(s) for s in shape)


def check_inputs(labels: Any, pred_probs: Any) -> tuple[int, int, int, int]:
    """Check shapes (not values) and return ``(N, K, H, W)``.

    Raises:
        ShapeError: wrong number of dimensions, mismatched N/H/W, an empty dataset, K < 2.
    """
    label_shape, prob_shape = _shape(labels), _shape(pred_probs)
    if len(label_shape) != 3:
        raise ShapeError(f"labels must have shape (N, H, W); got shape {label_shape}.")
    if len(prob_shape) != 4:
        raise ShapeError(f"pred_probs must have shape (N, K, H, W); got shape {prob_shape}.")
    n, k, h, w = prob_shape
    if (n, h, w) != label_shape:
        raise ShapeError(
            f"labels has shape {label_shape} but pred_probs has shape {prob_shape}; their N, H "
            f"and W must agree (pred_probs is (N, K, H, W): for channels-last data use "
            "np.moveaxis(pred_probs, -1, 1))."
        )
    if n == 0 or h == 0 or w == 0:
        raise ShapeError(f"the dataset is empty: labels has shape {label_shape}.")
    if k < 2:
        raise ShapeError(f"pred_probs has K={k} classes; at least 2 are needed.")
    return n, k, h, w


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().cpu()
        if str(array.dtype) == "torch.bfloat16":
            array = array.float()
        return np.asarray(array.numpy())
    return np.asarray(array)


def default_batch_size(k: int, h: int, w: int, itemsize: int = 4) -> int:
    """Images per batch so that one batch of pred_probs is about 64 MiB (at least 1)."""
    return max(1, _BATCH_BYTES // max(1, k * h * w * itemsize))


def iter_batches(
    labels: Any,
    pred_probs: Any,
    *,
    batch_size: int | None = None,
    ignore_index: int | None = None,
    check_values: bool = True,
    progress: bool = False,
    description: str = "scoring",
) -> Iterator[Batch]:
    """Yield validated batches of images.

    Args:
        labels: int (N, H, W).
        pred_probs: float (N, K, H, W).
        batch_size: images per batch; default keeps a batch near 64 MiB.
        ignore_index: label value of pixels to leave out (e.g. 255 for "void").
        check_values: check label range and probabilities (negative, NaN, sum over K).
        progress: show a progress bar (rich) over batches.
        description: text of the progress bar.

    Raises:
        ShapeError: see :func:`check_inputs`.
        ConfigError: a label outside ``[0, K)`` (other than ``ignore_index``), a float label,
            probabilities that are negative, NaN, or do not sum to 1 over K.
    """
    n, k, h, w = check_inputs(labels, pred_probs)
    if batch_size is None:
        batch_size = default_batch_size(k, h, w, getattr(pred_probs, "itemsize", 4) or 4)
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be at least 1.")
    starts: Iterable[int] = range(0, n, batch_size)
    if progress and n > batch_size:
        from rich.progress import track

        starts = track(starts, description=description, total=-(-n // batch_size), transient=True)
    for start in starts:
        stop = min(start + batch_size, n)
        lab = _to_numpy(labels[start:stop])
        prob = _to_numpy(pred_probs[start:stop])
        if not np.issubdtype(lab.dtype, np.integer):
            raise ConfigError(
                f"labels must be integers (class ids); got dtype {lab.dtype}. "
                "Convert with labels.astype(np.int64) if they are whole numbers."
            )
        if not np.issubdtype(prob.dtype, np.floating):
            raise ConfigError(f"pred_probs must be floating point; got dtype {prob.dtype}.")
        lab = lab.astype(np.int64, copy=False)
        valid = None if ignore_index is None else lab != ignore_index
        if check_values:
            _check_values(lab, prob, valid, k, start, ignore_index)
        if valid is not None:
            lab = np.where(valid, lab, 0)  # any in-range class; ignored pixels are masked out
        yield Batch(start, stop, lab, prob, valid)


def _check_values(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    valid: np.ndarray | None,
    k: int,
    offset: int,
    ignore_index: int | None,
) -> None:
    """Cheap reductions on the happy path; the offending position is located only on failure."""
    checked = labels if valid is None else labels[valid]
    if checked.size and (checked.min() < 0 or checked.max() >= k):
        bad = (labels < 0) | (labels >= k)
        if valid is not None:
            bad &= valid
        where = np.argwhere(bad)[0]
        value = int(labels[tuple(where)])
        hint = "" if ignore_index is None else f" (ignore_index={ignore_index})"
        raise ConfigError(
            f"labels hold {value} at image {offset + int(where[0])}, pixel ({int(where[1])}, "
            f"{int(where[2])}): outside 0..{k - 1} for K={k} classes{hint}; pass ignore_index= "
            "for void pixels, or fix the class ids."
        )
    lowest = pred_probs.min()  # NaN propagates through min
    if np.isnan(lowest):
        image = offset + int(np.argwhere(np.isnan(pred_probs))[0][0])
        raise ConfigError(
            f"pred_probs contain NaN (first in image {image}); check the model output."
        )
    if lowest < 0:
        image = offset + int(np.argwhere(pred_probs < 0)[0][0])
        raise ConfigError(
            f"pred_probs contain negative values (first in image {image}); pass probabilities "
            "(softmax over K), not logits."
        )
    sums = pred_probs.sum(axis=1)  # the input's dtype: its rounding is far below the tolerance
    off = np.abs(sums - 1.0) > PROB_TOLERANCE
    if valid is not None:
        off &= valid
    if off.any():
        where = np.argwhere(off)[0]
        raise ConfigError(
            f"pred_probs do not sum to 1 over K at image {offset + int(where[0])}, pixel "
            f"({int(where[1])}, {int(where[2])}): sum {float(sums[tuple(where)]):.6g} (tolerance "
            f"{PROB_TOLERANCE}); apply softmax over the class axis 1 (pred_probs is (N, K, H, W))."
        )
