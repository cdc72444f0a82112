"""Figures of the seglabels analyses.

Precision-recall curves, AUPRC per error type, and the images ranked most likely mislabeled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from interplab.seglabels.evaluate import precision_recall_curve

__all__ = ["VOID_COLOUR", "auprc_bars", "class_colours", "mask_panels", "pr_curves", "worst_images"]

VOID_COLOUR = (0.6, 0.6, 0.6)
"""Grey: pixels whose label is the ignore index, in a drawn mask."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def class_colours(n_classes: int) -> np.ndarray:
    """Float (K, 3) RGB colours; class 0 (unlabeled) is black."""
    plt = _pyplot()
    colours = np.asarray(plt.get_cmap("tab10")(np.arange(n_classes) % 10))[:, :3]
    colours[0] = 0.0
    return colours


def mask_panels(
    labels: np.ndarray, probs: np.ndarray, colours: np.ndarray, ignore_index: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What to draw for one image: its given mask, its predicted mask and p(given label).

    Args:
        labels: int (H, W), the given labels (``ignore_index`` marks void pixels).
        probs: float (K, H, W).
        colours: float (K, 3), from :func:`class_colours`.
        ignore_index: label value of void pixels.

    Returns:
        given mask float (H, W, 3) (void pixels grey), predicted mask float (H, W, 3),
        p(given label) float64 (H, W) (NaN at void pixels, drawn blank).
    """
    valid = np.ones(labels.shape, dtype=bool) if ignore_index is None else labels != ignore_index
    safe = np.where(valid, labels, 0)
    given = np.take_along_axis(probs, safe[None], axis=0)[0].astype(np.float64)
    given[~valid] = np.nan
    given_rgb = colours[safe]
    given_rgb[~valid] = VOID_COLOUR
    return given_rgb, colours[probs.argmax(axis=0)], given


def pr_curves(scores: Mapping[str, np.ndarray], is_mislabeled: np.ndarray, title: str) -> Any:
    """One precision-recall curve per method; the dashed line is the base rate."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    for name, values in scores.items():
        precision, recall = precision_recall_curve(values, is_mislabeled)
        ax.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="post", label=name)
    ax.axhline(is_mislabeled.mean(), ls="--", c="grey", lw=1, label="base rate")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    return fig


def auprc_bars(table: Mapping[str, Mapping[str, float]], title: str) -> Any:
    """Grouped bars: AUPRC of each method (group) for each error type (bar)."""
    plt = _pyplot()
    methods = list(table)
    kinds = list(dict.fromkeys(k for row in table.values() for k in row))
    width = 0.8 / max(len(kinds), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(methods)), 3.4))
    for i, kind in enumerate(kinds):
        values = [table[m].get(kind, np.nan) for m in methods]
        ax.bar(np.arange(len(methods)) + i * width, values, width, label=kind)
    ax.set_xticks(np.arange(len(methods)) + width * (len(kinds) - 1) / 2, methods, rotation=20)
    ax.set(ylabel="AUPRC", ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, ncols=3)
    ax.grid(axis="y", alpha=0.3)
    return fig


def worst_images(
    images: np.ndarray,
    labels: np.ndarray,
    pred_probs: np.ndarray,
    scores: np.ndarray,
    *,
    captions: Sequence[str],
    top: int = 6,
    ignore_index: int | None = None,
) -> Any:
    """The ``top`` lowest-scoring images: image, given mask, predicted mask, pixel scores.

    Args:
        images: float (N, 3, H, W) in [0, 1].
        labels: int (N, H, W), the given labels.
        pred_probs: float (N, K, H, W).
        scores: float (N,) image scores.
        captions: one line per image (e.g. its true error kinds).
        top: rows to show.
        ignore_index: label value of void pixels (drawn grey, and blank in p(given label)).
    """
    plt = _pyplot()
    order = np.argsort(scores, kind="mergesort")[:top]
    colours = class_colours(pred_probs.shape[1])
    fig, axes = plt.subplots(len(order), 4, figsize=(7.2, 1.9 * len(order)), squeeze=False)
    for row, i in zip(axes, order, strict=True):
        panels = (
            images[i].transpose(1, 2, 0),
            *mask_panels(labels[i], np.asarray(pred_probs[i]), colours, ignore_index),
        )
        for ax, panel in zip(row, panels, strict=True):
            ax.imshow(panel, vmin=0, vmax=1, cmap="magma", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(f"#{i}\n{scores[i]:.3f}", fontsize=8)
        row[1].set_title(captions[i] or "clean", fontsize=7)
    for ax, title in zip(axes[0], ("", "", "predicted", "p(given label)"), strict=True):
        if title:
            ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return fig
