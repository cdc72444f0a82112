"""Figures: accuracy retained against relative depth, and the logit lens's accuracy per layer.

Both take tidy frames with one line per ``model`` (a task, or ``task (seed s)``):

- ``sweep``: rows of :func:`~interplab.robustness.sweep.layer_sweep` (``model, kind,
  relative_depth, acc_retained``, and ``acc_retained_ci_low/high`` when present);
- ``lens``: ``model, entry, relative_depth, lens_accuracy`` (entry 0 = embeddings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_overview"]


def _retained(ax: Axes, sweep: pd.DataFrame, kind: str) -> None:
    rows = sweep[sweep["kind"] == kind]
    for model, group in rows.groupby("model", sort=True):
        group = group.sort_values("relative_depth")
        x = group["relative_depth"].to_numpy()
        (line,) = ax.plot(x, group["acc_retained"].to_numpy(), marker="o", ms=3, label=str(model))
        if "acc_retained_ci_low" in group.columns:
            ax.fill_between(
                x,
                group["acc_retained_ci_low"].to_numpy(dtype=float),
                group["acc_retained_ci_high"].to_numpy(dtype=float),
                color=line.get_color(),
                alpha=0.15,
            )
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("relative depth  l / (n − 1)" + ("  (swap l ↔ l+1)" if kind == "swap" else ""))
    ax.set_ylabel("accuracy retained at outputs")
    ax.set_title(f"{kind} one layer")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(bottom=0.0)
    ax.grid(alpha=0.3)


def _lens(ax: Axes, lens: pd.DataFrame) -> None:
    for model, group in lens.groupby("model", sort=True):
        group = group.sort_values("entry")
        ax.plot(
            group["relative_depth"].to_numpy(),
            group["lens_accuracy"].to_numpy(),
            marker="o",
            ms=3,
            label=str(model),
        )
    ax.set_xlabel("residual entry  i / n  (0 = embeddings, 1 = last block)")
    ax.set_ylabel("logit-lens top-1 accuracy at outputs")
    ax.set_title("logit lens vs true output")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)


def plot_overview(
    sweep: pd.DataFrame | None, lens: pd.DataFrame | None, *, title: str = ""
) -> Figure:
    """Deletion and swap accuracy retained, and lens accuracy; panels for the frames given."""
    import matplotlib.pyplot as plt

    kinds = [] if sweep is None else [k for k in ("delete", "swap") if (sweep["kind"] == k).any()]
    n = len(kinds) + (lens is not None)
    fig, axes = plt.subplots(1, max(n, 1), figsize=(4.6 * max(n, 1), 3.8), squeeze=False)
    panels = list(axes[0])
    for kind in kinds:
        assert sweep is not None
        _retained(panels.pop(0), sweep, kind)
    if lens is not None:
        _lens(panels.pop(0), lens)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), frameon=False,
                   bbox_to_anchor=(0.5, -0.02), fontsize=8)  # fmt: skip
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
