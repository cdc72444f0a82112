"""Figures of ``compose.label-quality-of-next-tokens``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["summary_figure"]


def summary_figure(
    auprc: Mapping[str, Mapping[str, float]],
    scores: Mapping[str, Mapping[str, np.ndarray]],
    is_corrupted: np.ndarray,
    *,
    title: str,
) -> Any:
    """AUPRC of each method, one bar group per intervention; precision-recall curves.

    Args:
        auprc: ``{intervention: {method: AUPRC}}`` (the first intervention is the intact model).
        scores: ``{intervention: {method: float (N,)}}`` document scores (low = suspect).
        is_corrupted: bool (N,), the truth.
        title: figure title.

    Returns:
        A matplotlib figure: bars (left), precision-recall curves of every method on the intact
        model (middle), and of the best intact method under each intervention (right).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interplab.seglabels.evaluate import precision_recall_curve

    interventions = list(auprc)
    methods = list(dict.fromkeys(m for row in auprc.values() for m in row))
    base = float(np.mean(is_corrupted))
    fig, axes = plt.subplots(
        1, 3, figsize=(6.0 + 0.9 * len(interventions) + 7.6, 3.8),
        gridspec_kw={"width_ratios": [1.4 + 0.25 * len(interventions), 1, 1]},
    )  # fmt: skip
    bars, curves, best_curves = axes
    colours = plt.get_cmap("tab10")(np.arange(len(methods)) % 10)
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(interventions))
    for j, method in enumerate(methods):
        values = [auprc[i].get(method, np.nan) for i in interventions]
        bars.bar(x + j * width, values, width, label=method, color=colours[j])
    bars.axhline(base, ls="--", c="grey", lw=1, label="base rate")
    bars.set_xticks(x + width * (len(methods) - 1) / 2, interventions, rotation=20)
    bars.set(ylabel="AUPRC (corrupted documents)", ylim=(0, 1.02), title="AUPRC by intervention")
    bars.legend(fontsize=7, ncols=2, loc="upper right")
    bars.grid(axis="y", alpha=0.3)

    def curve(ax: Any, values: np.ndarray, label: str, colour: Any = None) -> None:
        precision, recall = precision_recall_curve(values, is_corrupted)
        ax.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="post", label=label,
                color=colour)  # fmt: skip

    intact = interventions[0]
    for j, method in enumerate(methods):
        curve(curves, scores[intact][method], method, colours[j])
    best = max(methods, key=lambda m: auprc[intact].get(m, -1.0))
    for intervention in interventions:
        curve(best_curves, scores[intervention][best], intervention)
    for ax, name in (
        (curves, f"{intact}: every method"),
        (best_curves, f"{best}: by intervention"),
    ):
        ax.axhline(base, ls="--", c="grey", lw=1)
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=name)
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
