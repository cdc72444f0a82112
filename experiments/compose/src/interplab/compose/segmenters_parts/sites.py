"""Interventions on a segmenter's ResNet encoder, and what the fold models predict under them.

Legend: N images, K classes, H×W pixels. The encoder of a segmentation-models-pytorch model
(``model.encoder``) is a torchvision ResNet whose stages ``layer1..layer4`` are ``nn.Sequential``
lists of residual blocks. A block with a ``downsample`` projection changes the shape of the
stream (a stage's first block, except resnet18/34's ``layer1``) and cannot be deleted or moved;
every other block can be deleted, and two adjacent ones of the same stage swapped.

Out-of-sample: the images are split into K folds exactly as
:func:`interplab.seglabels.models.cross_val_pred_probs` splits them (same permutation, fold
``f`` trained with seed ``seed + f``), so the intact probabilities equal that function's. Under an
intervention every fold model, edited the same way, predicts only its held-out fold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from interplab.core.errors import ConfigError

__all__ = [
    "STAGES",
    "Site",
    "encoder_sites",
    "fold_indices",
    "fold_models",
    "out_of_fold_probs",
    "site_metrics",
]

STAGES = ("layer1", "layer2", "layer3", "layer4")
"""The residual stages of a torchvision ResNet, in forward order."""


@dataclass(frozen=True)
class Site:
    """One intervention on one encoder stage (or none: ``kind="intact"``)."""

    kind: Literal["intact", "delete", "swap"]
    stage: str | None = None
    """``"layer1"``..``"layer4"`` (None when intact)."""
    blocks: tuple[int, ...] = ()
    """Indices of the edited blocks within the stage."""
    positions: tuple[int, ...] = ()
    """The same blocks' indices among all the encoder's residual blocks (forward order)."""
    n_blocks: int = 1
    """Residual blocks in the whole encoder."""

    @property
    def label(self) -> str:
        """``intact``, ``delete-layer2.1`` or ``swap-layer1.0-layer1.1``."""
        if self.kind == "intact":
            return "intact"
        return f"{self.kind}-" + "-".join(f"{self.stage}.{i}" for i in self.blocks)

    @property
    def relative_depth(self) -> float:
        """Mean position of the edited blocks / (blocks in the encoder − 1): 0 first, 1 last."""
        if not self.positions:
            return float("nan")
        return float(np.mean(self.positions)) / max(self.n_blocks - 1, 1)

    @property
    def path(self) -> str:
        """Attribute path of the stage in the segmenter (``encoder.layer2``)."""
        return f"encoder.{self.stage}"

    def ops(self) -> tuple[Any, ...]:
        """The robustness interventions that make this edit."""
        from interplab.robustness.interventions import Delete, Swap

        if self.kind == "delete":
            return (Delete(self.blocks[0]),)
        if self.kind == "swap":
            return (Swap(*self.blocks),)
        return ()

    def params(self) -> dict[str, Any]:
        """JSON values for a record."""
        return {
            "intervention": self.label,
            "kind": self.kind,
            "stage": self.stage,
            "blocks": list(self.blocks),
            "block_positions": list(self.positions),
            "relative_depth": None if math.isnan(self.relative_depth) else self.relative_depth,
        }


def encoder_sites(
    model: Any,
    *,
    stages: Sequence[str] = STAGES,
    kinds: Sequence[str] = ("delete", "swap"),
) -> list[Site]:
    """The intact site, then each deletion and adjacent swap, stage by stage, in forward order.

    Args:
        model: a segmentation-models-pytorch model with a ResNet ``encoder``.
        stages: which stages to edit.
        kinds: ``"delete"`` (every block that keeps the shape) and/or ``"swap"`` (every adjacent
            pair of such blocks in a stage).

    Raises:
        ConfigError: the encoder has no such stage of residual blocks.
    """
    from torch import nn

    from interplab.robustness.interventions import changes_shape

    encoder = getattr(model, "encoder", None)
    lists: dict[str, Any] = {s: getattr(encoder, s, None) for s in STAGES}
    missing = [s for s, found in lists.items() if not isinstance(found, nn.Sequential)]
    if missing:
        raise ConfigError(
            f"{type(encoder).__name__} has no nn.Sequential stage(s) {missing}; this analysis "
            "edits the residual stages layer1..layer4 of a ResNet encoder (e.g. resnet18)."
        )
    n_blocks: int = sum(len(lists[s]) for s in STAGES)
    sites = [Site("intact", n_blocks=n_blocks)]
    start = 0
    for stage in STAGES:
        blocks = list(lists[stage])
        keeps = [not changes_shape(block) for block in blocks]
        if stage in stages:
            for i in range(len(blocks)):
                if "delete" in kinds and keeps[i]:
                    sites.append(Site("delete", stage, (i,), (start + i,), n_blocks))
                if "swap" in kinds and i + 1 < len(blocks) and keeps[i] and keeps[i + 1]:
                    sites.append(
                        Site("swap", stage, (i, i + 1), (start + i, start + i + 1), n_blocks)
                    )
        start += len(blocks)
    return sites


def fold_indices(n_images: int, n_folds: int, seed: int) -> list[np.ndarray]:
    """The held-out images of each fold, as ``cross_val_pred_probs`` draws them."""
    return np.array_split(np.random.default_rng(seed).permutation(n_images), n_folds)


def fold_models(
    images: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    spec: Any,
    *,
    n_folds: int,
    seed: int,
    device: Any,
    cache: Any,
    key: dict[str, Any],
    progress: Callable[..., Iterator[Any]] | None = None,
) -> list[Any]:
    """One trained segmenter per fold (weights cached), each trained without its fold.

    Args:
        images: float32 (N, 3, H, W) in [0, 1].
        labels: int64 (N, H, W), the (noisy) labels the models train on.
        n_classes: K.
        spec: a :class:`~interplab.seglabels.models.SegmenterSpec`.
        n_folds: folds.
        seed: folds and training seeds (fold ``f`` trains with ``seed + f``).
        device: torch device.
        cache: the run's cache; the weights are stored per fold under ``key`` plus the spec,
            the folds and the seed.
        key: JSON values identifying the data (content hashes).
        progress: shows the epochs.

    Returns:
        The fold models in eval mode, on ``device``.
    """
    from interplab.seglabels.models import build_segmenter, train_segmenter

    models = []
    for fold, held_out in enumerate(fold_indices(len(images), n_folds, seed)):
        train = np.setdiff1d(np.arange(len(images)), held_out)

        def weights(train: np.ndarray = train, fold: int = fold) -> dict[str, Any]:
            model = train_segmenter(
                images[train], labels[train], n_classes, spec, seed=seed + fold, device=device,
                progress=progress,
            )  # fmt: skip
            return {name: t.detach().cpu() for name, t in model.state_dict().items()}

        parts = {
            "what": "compose/segmenter-fold-weights", **key, "spec": spec.as_dict(),
            "n_folds": n_folds, "fold": fold, "seed": seed, "v": 1,
        }  # fmt: skip
        state = cache.get_or_compute(parts, weights)
        model = build_segmenter(spec, n_classes)
        model.load_state_dict(state)
        models.append(model.to(device).eval())
    return models


def out_of_fold_probs(
    models: Sequence[Any],
    images: np.ndarray,
    site: Site,
    *,
    seed: int,
    device: Any,
    batch_size: int = 32,
) -> np.ndarray:
    """float32 (N, K, H, W): each fold predicted by its own model under ``site``'s intervention.

    Every model is restored exactly when its fold is done (``intervene`` undoes the edit).
    """
    from interplab.robustness.interventions import intervene
    from interplab.seglabels.models import predict_probs

    folds = fold_indices(len(images), len(models), seed)
    out: np.ndarray | None = None
    for model, held_out in zip(models, folds, strict=True):
        ops = site.ops()
        if ops:
            with intervene(model, *ops, blocks=site.path):
                probs = predict_probs(model, images[held_out], batch_size=batch_size, device=device)
        else:
            probs = predict_probs(model, images[held_out], batch_size=batch_size, device=device)
        if out is None:
            out = np.empty((len(images), *probs.shape[1:]), dtype=np.float32)
        out[held_out] = probs
    assert out is not None
    return out


def site_metrics(
    probs: np.ndarray,
    clean: np.ndarray,
    given: np.ndarray,
    is_mislabeled: np.ndarray,
    n_classes: int,
    methods: Sequence[str],
) -> dict[str, float]:
    """The mIoU against the clean masks and each method's AUPRC for finding mislabeled images.

    Args:
        probs: float32 (N, K, H, W) out-of-sample probabilities.
        clean: int64 (N, H, W) exact masks.
        given: int64 (N, H, W) the noisy labels that are scored.
        is_mislabeled: bool (N,).
        n_classes: K.
        methods: image-score methods of :func:`interplab.seglabels.scores.image_scores`.

    Returns:
        ``{"compose.miou": .., "compose.auprc_<method>": ..}`` (AUPRC NaN without any error).
    """
    from interplab.seglabels.evaluate import average_precision, mean_iou
    from interplab.seglabels.scores import image_scores

    metrics = {"compose.miou": mean_iou(probs.argmax(axis=1), clean, n_classes)}
    for method in methods:
        scores = image_scores(given, probs, method=method)
        metrics[f"compose.auprc_{method}"] = average_precision(scores, is_mislabeled)
    return metrics
