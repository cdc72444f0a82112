"""Figures of layer sweeps: a metric against relative depth, one line per model, CI bands."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from interplab.core.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["METRIC_LABELS", "plot_sweep", "plot_sweeps"]

METRIC_LABELS = {
    "kl": "KL(original ‖ intervened), nats",
    "top1_agreement": "top-1 agreement with the original",
    "acc_orig": "top-1 accuracy, original",
    "acc_int": "top-1 accuracy, intervened",
    "acc_retained": "accuracy retained (acc_int / acc_orig)",
    "loss_orig": "loss, original (nats)",
    "loss_int": "loss, intervened (nats)",
    "loss_delta": "loss increase (intervened − original), nats",
    "entropy_orig": "output entropy, original (bits)",
    "entropy_int": "output entropy, intervened (bits)",
}


def _natural(name: object) -> list[object]:
    """Sort key that puts ``gpt2-4l`` before ``gpt2-12l`` (numbers compared as numbers)."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(name))]


def plot_sweep(frame: pd.DataFrame, metric: str, *, kind: str) -> Figure:
    """``metric`` of the ``kind`` rows of ``frame`` against relative depth, one line per model.

    Args:
        frame: rows of :func:`~interplab.robustness.sweep.layer_sweep` (one or many models
            concatenated).
        metric: a metric column (``kl``, ``acc_retained``, ...); its ``_ci_low``/``_ci_high``
            columns, when present, are drawn as a band.
        kind: ``delete``, ``swap``, ...; a swap of (L, L+1) is drawn at L / (n − 1).
    """
    import matplotlib.pyplot as plt

    if metric not in frame.columns:
        raise ConfigError(
            f"metric={metric!r} is not a column of the sweep frame; choose one of "
            f"{[c for c in METRIC_LABELS if c in frame.columns]}."
        )
    rows = frame[frame["kind"] == kind]
    if rows.empty:
        raise ConfigError(
            f"kind={kind!r} has no rows in the sweep frame (kinds present: "
            f"{sorted(frame['kind'].unique())})."
        )
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for model in sorted(rows["model"].unique(), key=_natural):
        group = rows[rows["model"] == model].sort_values("relative_depth")
        x = group["relative_depth"].to_numpy()
        (line,) = ax.plot(x, group[metric].to_numpy(), marker="o", ms=3, label=str(model))
        low, high = f"{metric}_ci_low", f"{metric}_ci_high"
        if low in group.columns and high in group.columns:
            ax.fill_between(
                x, group[low].to_numpy(), group[high].to_numpy(), color=line.get_color(), alpha=0.2
            )
    if metric == "acc_retained":
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("relative depth  l / (n − 1)")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f"{kind}: {metric}")
    ax.set_xlim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_sweeps(
    frame: pd.DataFrame, metrics: tuple[str, ...] = ("kl", "acc_retained", "top1_agreement")
) -> dict[str, Any]:
    """One figure per (kind, metric) present in ``frame``: ``{"delete-kl": Figure, ...}``."""
    return {
        f"{kind}-{metric}": plot_sweep(frame, metric, kind=kind)
        for kind in dict.fromkeys(frame["kind"])
        for metric in metrics
        if metric in frame.columns
    }
