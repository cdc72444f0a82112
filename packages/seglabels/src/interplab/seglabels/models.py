"""Segmentation models (segmentation-models-pytorch) and out-of-sample probabilities.

Probabilities come from K-fold cross-validation: every image is scored by a model that never
saw it.

Legend: N images, K classes, H×W pixels. Models output logits (``activation=None``); the
probabilities are their softmax over K. ``encoder_weights=None`` by default, since no download
is possible offline; pass ``"imagenet"`` when the Hugging Face Hub is reachable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from interplab.core.errors import ConfigError, ShapeError

__all__ = [
    "Architecture",
    "SegmenterSpec",
    "build_segmenter",
    "cross_val_pred_probs",
    "predict_probs",
    "train_segmenter",
]

Architecture = Literal["deeplabv3plus", "fpn"]
Progress = Callable[..., Iterator[Any]]

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]


@dataclass(frozen=True)
class SegmenterSpec:
    """What to build and how to train it (defaults sized for a 2-core CPU)."""

    architecture: Architecture = "fpn"
    encoder: str = "resnet18"
    encoder_depth: int = 5
    """Encoder stages used; FPN's output stride assumes 5."""
    decoder_channels: int = 64
    encoder_weights: str | None = None
    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 2e-3

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields (for cache keys and records)."""
        return asdict(self)


def build_segmenter(spec: SegmenterSpec, n_classes: int) -> Any:
    """An untrained ``smp.DeepLabV3Plus`` or ``smp.FPN`` with ``n_classes`` logit channels."""
    import segmentation_models_pytorch as smp

    common = {
        "encoder_name": spec.encoder,
        "encoder_weights": spec.encoder_weights,
        "encoder_depth": spec.encoder_depth,
        "in_channels": 3,
        "classes": n_classes,
    }
    if spec.architecture == "deeplabv3plus":
        return smp.DeepLabV3Plus(decoder_channels=spec.decoder_channels, **common)
    if spec.architecture == "fpn":
        return smp.FPN(
            decoder_pyramid_channels=spec.decoder_channels,
            # its segmentation head uses GroupNorm(32): a multiple of 32 channels
            decoder_segmentation_channels=max(32, spec.decoder_channels // 64 * 32),
            **common,
        )
    raise ConfigError(
        f"architecture={spec.architecture!r} is not known; use 'deeplabv3plus' or 'fpn'."
    )


def _normalize(images: np.ndarray) -> np.ndarray:
    return ((images - _MEAN) / _STD).astype(np.float32)


def _check(images: np.ndarray, labels: np.ndarray | None = None) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ShapeError(f"images must be (N, 3, H, W) floats in [0, 1]; got {images.shape}.")
    if labels is not None and labels.shape != (images.shape[0], *images.shape[2:]):
        raise ShapeError(f"labels {labels.shape} do not match images {images.shape}.")


def train_segmenter(
    images: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    spec: SegmenterSpec = SegmenterSpec(),
    *,
    seed: int,
    device: Any = "cpu",
    progress: Progress | None = None,
) -> Any:
    """Train a segmenter with cross-entropy, Adam and random horizontal flips.

    Args:
        images: float32 (N, 3, H, W) in [0, 1].
        labels: int64 (N, H, W) in [0, K).
        n_classes: K.
        spec: architecture and training settings.
        seed: initialises the weights and orders the batches.
        device: torch device.
        progress: ``progress(iterable, total=, description=)`` to show epochs.

    Returns:
        The trained ``torch.nn.Module`` in eval mode.
    """
    import torch

    _check(images, labels)
    if len(images) < 2 or spec.batch_size < 2:
        raise ConfigError(
            f"training needs batches of at least 2 images (batch norm); got {len(images)} "
            f"image(s) and batch_size={spec.batch_size}. Use more images (or fewer folds) and "
            "batch_size ≥ 2."
        )
    torch.manual_seed(seed)
    model = build_segmenter(spec, n_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec.epochs)
    x_all = torch.from_numpy(_normalize(images))
    y_all = torch.from_numpy(labels.astype(np.int64))
    generator = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    epochs: Iterable[int] = range(spec.epochs)
    if progress is not None:
        epochs = progress(epochs, total=spec.epochs, description=f"training {spec.architecture}")
    model.train()
    for _ in epochs:
        order = torch.randperm(len(x_all), generator=generator)
        for start in range(0, len(order), spec.batch_size):
            idx = order[start : start + spec.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            x, y = x_all[idx], y_all[idx]
            flip = torch.rand(len(idx), generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            y = torch.where(flip[:, None, None], y.flip(-1), y)
            loss = loss_fn(model(x.to(device)), y.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
    return model.eval()


def predict_probs(
    model: Any, images: np.ndarray, *, batch_size: int = 32, device: Any = "cpu"
) -> np.ndarray:
    """float32 (N, K, H, W): softmax over K of the model's logits."""
    import torch

    _check(images)
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(_normalize(images[start : start + batch_size])).to(device)
            out.append(torch.softmax(model(x).float(), dim=1).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def cross_val_pred_probs(
    images: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    spec: SegmenterSpec = SegmenterSpec(),
    *,
    n_folds: int = 3,
    seed: int,
    device: Any = "cpu",
    progress: Progress | None = None,
) -> np.ndarray:
    """Out-of-sample pred_probs: each fold is predicted by a model trained on the others.

    Args:
        images: float32 (N, 3, H, W) in [0, 1].
        labels: int64 (N, H, W), the (possibly noisy) labels the models train on.
        n_classes: K.
        spec: model and training settings.
        n_folds: number of folds (≥ 2).
        seed: fixes the folds and each fold's training.
        device: torch device.
        progress: ``progress(iterable, total=, description=)`` to show epochs.

    Returns:
        float32 (N, K, H, W).
    """
    _check(images, labels)
    n = len(images)
    if not 2 <= n_folds <= n or n - -(-n // n_folds) < 2:
        raise ConfigError(
            f"n_folds={n_folds} does not fit {n} images: it must be at least 2, and each fold's "
            "model trains on the other folds, which must hold at least 2 images."
        )
    folds = np.array_split(np.random.default_rng(seed).permutation(len(images)), n_folds)
    out = np.empty((len(images), n_classes, *images.shape[2:]), dtype=np.float32)
    for fold, held_out in enumerate(folds):
        train = np.setdiff1d(np.arange(len(images)), held_out)
        model = train_segmenter(
            images[train], labels[train], n_classes, spec, seed=seed + fold, device=device,
            progress=progress,
        )  # fmt: skip
        out[held_out] = predict_probs(model, images[held_out], device=device)
    return out
