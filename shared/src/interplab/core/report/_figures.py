"""Generic figures the report draws for any analysis: metrics against a swept parameter."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from interplab.core.records import ExperimentRecord

__all__ = ["sweep_figures"]

_MAX_METRICS = 4


def _numeric(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def swept_parameter(records: Sequence[ExperimentRecord]) -> str | None:
    """The one numeric parameter that varies across ``records`` (else ``None``)."""
    keys = {k for r in records for k in r.params}
    varying = []
    for key in sorted(keys):
        values = [_numeric(r.params.get(key)) for r in records]
        if all(v is not None for v in values) and len(set(values)) > 1:
            varying.append(key)
        elif len({repr(r.params.get(key)) for r in records}) > 1:
            return None  # something non-numeric varies too: no single x axis
    return varying[0] if len(varying) == 1 else None


def sweep_figures(records: Sequence[ExperimentRecord]) -> list[tuple[str, bytes]]:
    """For completed records of one analysis: each metric against the swept parameter.

    Points with the same parameter value (e.g. different seeds) are averaged; the error bar is
    the standard error of the mean. Returns ``(title, PNG bytes)`` pairs (at most one figure).
    """
    done = [r for r in records if r.status == "completed" and r.metrics]
    if len(done) < 3:
        return []
    x_key = swept_parameter([r.model_copy(update={"params": _without_seed(r)}) for r in done])
    if x_key is None:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric_keys = list(dict.fromkeys(k for r in done for k in r.metrics))[:_MAX_METRICS]
    fig, axes = plt.subplots(
        1, len(metric_keys), figsize=(3.4 * len(metric_keys), 2.8), squeeze=False
    )
    for ax, key in zip(axes[0], metric_keys, strict=True):
        groups: dict[float, list[float]] = {}
        for r in done:
            x, m = _numeric(r.params.get(x_key)), r.metrics.get(key)
            if x is not None and m is not None and m.is_finite:
                groups.setdefault(x, []).append(m.value)
        xs = sorted(groups)
        means = [sum(groups[x]) / len(groups[x]) for x in xs]
        errs = [_sem(groups[x]) for x in xs]
        ax.errorbar(xs, means, yerr=errs, marker="o", capsize=3)
        if xs and min(xs) > 0 and max(xs) / min(xs) >= 100:
            ax.set_xscale("log")
        spec = next((r.metrics[key] for r in done if key in r.metrics), None)
        direction = spec.higher_is_better if spec else None
        arrow = {True: " (↑ better)", False: " (↓ better)", None: ""}[direction]
        ax.set(xlabel=x_key, title=f"{key}{arrow}")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return [(f"metrics against {x_key}", buffer.getvalue())]


def _without_seed(record: ExperimentRecord) -> dict[str, object]:
    return {k: v for k, v in record.params.items() if k != "seed"}


def _sem(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(var / len(values))
