"""Figures of the stage analyses; each function returns a matplotlib Figure.

Depth axes follow the paper: l / (L − 1) for per-block quantities (attention, neurons) and
i / L for residual entries (logit lens, CKA), where 0 is the embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from interplab.core.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from interplab.robustness.stages.attention import LocalityResult
    from interplab.robustness.stages.cka import CKAResult
    from interplab.robustness.stages.logit_lens import LensResult
    from interplab.robustness.stages.neurons import NeuronCensus
    from interplab.robustness.stages.sharpening import SharpeningResult

__all__ = [
    "plot_attention_locality",
    "plot_cka",
    "plot_head_scores",
    "plot_logit_lens",
    "plot_neuron_counts",
    "plot_sharpening",
]


def _nonempty(results: Mapping[str, object], what: str) -> None:
    if not results:
        raise ConfigError(f"no {what} to plot: pass {{model name: result}} with one entry or more.")


def plot_attention_locality(results: Mapping[str, LocalityResult]) -> Figure:
    """Mean attention to the previous k tokens against relative depth, one line per model."""
    import matplotlib.pyplot as plt

    _nonempty(results, "locality results")
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for name, r in results.items():
        x = r.relative_depth
        (line,) = ax.plot(x, r.mean, marker="o", ms=3, label=f"{name} ({r.n_docs} docs)")
        if np.isfinite(r.sem).all():
            ax.fill_between(x, r.mean - r.sem, r.mean + r.sem, color=line.get_color(), alpha=0.2)
    first = next(iter(results.values()))
    bos = "BOS included" if first.include_bos else "BOS excluded"
    ax.set(
        xlabel="relative depth  l / (L − 1)",
        ylabel=f"mean attention to each of the previous {first.k} tokens",
        title=f"attention locality ({bos}; band ± SEM)",
        xlim=(-0.02, 1.02),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_head_scores(scores: np.ndarray, *, title: str, label: str = "score") -> Figure:
    """Heatmap of a [layers, heads] score matrix."""
    import matplotlib.pyplot as plt

    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ConfigError(f"head scores must be [layers, heads]; got shape {scores.shape}.")
    fig, ax = plt.subplots(figsize=(1.2 + 0.35 * scores.shape[1], 1.2 + 0.3 * scores.shape[0]))
    image = ax.imshow(scores, aspect="auto", cmap="viridis", origin="lower")
    fig.colorbar(image, ax=ax, label=label)
    ax.set(xlabel="head", ylabel="layer (execution order)", title=title)
    fig.tight_layout()
    return fig


def plot_logit_lens(results: Mapping[str, LensResult]) -> Figure:
    """Entropy (bits) and KL(final ‖ layer) (nats) of the logit lens against relative depth."""
    import matplotlib.pyplot as plt

    _nonempty(results, "logit-lens results")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    for name, r in results.items():
        x = r.relative_depth
        (line,) = left.plot(x, r.entropy_bits, marker="o", ms=3, label=name)
        band = r.entropy_doc_std_bits  # the paper's: std over documents
        left.fill_between(
            x,
            r.entropy_bits - band,
            r.entropy_bits + band,
            color=line.get_color(),
            alpha=0.15,
        )
        right.plot(x, r.kl_nats, marker="o", ms=3, label=name, color=line.get_color())
    first = next(iter(results.values()))
    how = f"mode={first.mode}, b_U {'added' if first.add_bias else 'dropped'}"
    left.set(
        xlabel="relative depth  i / L  (0 = embeddings)",
        ylabel="entropy (bits), ± std over documents",
        title=f"logit-lens entropy ({how})",
    )
    right.set(
        xlabel="relative depth  i / L",
        ylabel="KL(final ‖ layer), nats",
        title="distance to the final distribution",
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_neuron_counts(censuses: Mapping[str, NeuronCensus]) -> Figure:
    """Prediction and suppression neurons per layer against relative depth, one line per model."""
    import matplotlib.pyplot as plt

    _nonempty(censuses, "neuron censuses")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), sharey=True)
    for name, c in censuses.items():
        x = c.relative_depth
        left.plot(x, c.prediction_counts, marker="o", ms=3, label=name)
        right.plot(x, c.suppression_counts, marker="o", ms=3, label=name)
    first = next(iter(censuses.values()))
    rule = f"kurtosis > {first.threshold:g}, {first.weights} weights"
    left.set(
        xlabel="relative depth  l / (L − 1)",
        ylabel="neurons",
        title=f"prediction neurons (skew > 0; {rule})",
    )
    right.set(xlabel="relative depth  l / (L − 1)", title="suppression neurons (skew < 0)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_cka(result: CKAResult, *, title: str = "residual-stream CKA") -> Figure:
    """Heatmap of the (L + 1) × (L + 1) CKA matrix (entry 0 = embeddings)."""
    import matplotlib.pyplot as plt

    n = result.matrix.shape[0]
    fig, ax = plt.subplots(figsize=(4.2 + 0.2 * n, 3.4 + 0.2 * n))
    image = ax.imshow(result.matrix, vmin=0.0, vmax=1.0, cmap="magma", origin="lower")
    fig.colorbar(image, ax=ax, label="linear CKA (unbiased HSIC)")
    step = max(1, n // 12)
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks, [result.labels[i] for i in ticks], rotation=90, fontsize=7)
    ax.set_yticks(ticks, [result.labels[i] for i in ticks], fontsize=7)
    ax.set_title(f"{title}\n({result.n_docs} documents)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_sharpening(result: SharpeningResult, *, top: int = 10, title: str = "") -> Figure:
    """Entropy before vs after the last block per position, and the most sharpening neurons."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    before, after = result.entropy_before_bits, result.entropy_after_bits
    left.scatter(before, after, s=3, alpha=0.4)
    low = float(min(before.min(initial=np.inf), after.min(initial=np.inf)))
    high = float(max(before.max(initial=-np.inf), after.max(initial=-np.inf)))
    if np.isfinite(low) and np.isfinite(high):
        left.plot([low, high], [low, high], color="grey", lw=0.8, ls="--", label="no change")
    left.set(
        xlabel="entropy entering the last block (bits)",
        ylabel="output entropy (bits)",
        title=f"{title} last block: {result.fraction_sharpened:.0%} of positions sharpened",
    )
    left.legend(fontsize=8, frameon=False)
    order = result.top_neurons(top)
    effects = result.neuron_effect_bits[order]
    right.barh(range(len(order)), effects[::-1], color="tab:purple")
    right.set_yticks(range(len(order)), [f"L{result.layer}.{i}" for i in order[::-1]], fontsize=7)
    right.set(
        xlabel="entropy increase when removed (bits)",
        title=f"top {len(order)} sharpening neurons ({result.method})",
    )
    right.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
