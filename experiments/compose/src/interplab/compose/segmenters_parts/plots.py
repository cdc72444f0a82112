"""Figures and the console table of ``compose.robustness-of-segmenters``.

A row is one (model, intervention) record as a plain dict: ``architecture``, ``intervention``,
``kind``, ``relative_depth`` (None when intact) and ``metrics`` (``{"compose.miou": ..}``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["depth_figure", "methods_figure", "rows_of", "table"]

Row = Mapping[str, Any]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rows_of(records: Sequence[Any]) -> list[dict[str, Any]]:
    """The per-intervention records (not the summary) as rows, in record order."""
    return [
        {
            "architecture": r.params.get("architecture"),
            "intervention": r.params.get("intervention"),
            "kind": r.params.get("kind"),
            "relative_depth": r.params.get("relative_depth"),
            "metrics": {k: m.value for k, m in r.metrics.items()},
        }
        for r in records
        if r.params.get("kind") in ("intact", "delete", "swap")
    ]


def _by_arch(rows: Sequence[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for row in rows:
        out.setdefault(str(row["architecture"]), []).append(row)
    return out


def depth_figure(rows: Sequence[Row], method: str) -> Any:
    """AUPRC of ``method`` and mIoU against the edited block's relative depth, a line per model.

    Lines join the deletions; crosses are adjacent swaps; dashed lines the intact model; the
    dotted grey line in the AUPRC panel is the base rate (a random ranking's AUPRC).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9))
    panels = ((f"compose.auprc_{method}", f"AUPRC ({method})"), ("compose.miou", "mIoU (clean)"))
    colours = plt.get_cmap("tab10")
    ticks: dict[float, str] = {}
    for n, (arch, arch_rows) in enumerate(_by_arch(rows).items()):
        colour = colours(n % 10)
        for ax, (key, _) in zip(axes, panels, strict=True):
            deletes = sorted(
                (r for r in arch_rows if r["kind"] == "delete"), key=lambda r: r["relative_depth"]
            )
            swaps = [r for r in arch_rows if r["kind"] == "swap"]
            intact = [r for r in arch_rows if r["kind"] == "intact"]
            ax.plot(
                [r["relative_depth"] for r in deletes],
                [r["metrics"][key] for r in deletes],
                "o-", color=colour, label=f"{arch}: delete block",
            )  # fmt: skip
            if swaps:
                ax.plot(
                    [r["relative_depth"] for r in swaps],
                    [r["metrics"][key] for r in swaps],
                    "x", color=colour, markersize=9, mew=2, label=f"{arch}: swap adjacent",
                )  # fmt: skip
            for r in intact:
                ax.axhline(r["metrics"][key], color=colour, ls="--", lw=1, label=f"{arch}: intact")
            for r in deletes:
                ticks[round(r["relative_depth"], 4)] = str(r["intervention"]).split("-", 1)[1]
    base = [r["metrics"].get("compose.base_rate") for r in rows if r["kind"] == "intact"]
    if base and base[0] is not None and not math.isnan(base[0]):
        axes[0].axhline(base[0], color="grey", ls=":", lw=1, label="base rate")
    for ax, (_, title) in zip(axes, panels, strict=True):
        ax.set_title(title)
        ax.set_xlabel("relative depth of the edited encoder block")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        top = ax.secondary_xaxis("top")
        top.set_xticks(list(ticks), [ticks[t] for t in ticks], rotation=45, fontsize=7)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def methods_figure(rows: Sequence[Row], methods: Sequence[str]) -> Any:
    """Each method's AUPRC per intervention (x in record order), one panel per model."""
    plt = _pyplot()
    groups = _by_arch(rows)
    fig, axes = plt.subplots(
        1, len(groups), figsize=(5.5 * len(groups), 3.9), squeeze=False, sharey=True
    )
    for ax, (arch, arch_rows) in zip(axes[0], groups.items(), strict=True):
        labels = [str(r["intervention"]) for r in arch_rows]
        for method in methods:
            ax.plot(
                range(len(arch_rows)),
                [r["metrics"][f"compose.auprc_{method}"] for r in arch_rows],
                "o-", ms=4, label=method,
            )  # fmt: skip
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{arch}: AUPRC per method")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("AUPRC (find mislabeled images)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _cell(value: float | None, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def table(rows: Sequence[Row], methods: Sequence[str]) -> str:
    """A fixed-width text table: model, intervention, depth, mIoU (Δ), AUPRC per method (Δ)."""
    head = ["model", "intervention", "depth", "mIoU", "ΔmIoU"]
    for method in methods:
        head += [f"AUPRC {method}", "Δ"]
    lines = [head]
    for arch_rows in _by_arch(rows).values():
        intact: Mapping[str, float] = next(
            (r["metrics"] for r in arch_rows if r["kind"] == "intact"), {}
        )
        for r in arch_rows:
            m = r["metrics"]
            base = {} if r["kind"] == "intact" else intact
            depth = r["relative_depth"]
            cells = [
                str(r["architecture"]),
                str(r["intervention"]),
                _cell(depth, 2) if depth is not None else "-",
                _cell(m.get("compose.miou")),
                _cell(_delta(m, base, "compose.miou")),
            ]
            for method in methods:
                key = f"compose.auprc_{method}"
                cells += [_cell(m.get(key)), _cell(_delta(m, base, key))]
            lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def _delta(metrics: Mapping[str, float], intact: Mapping[str, float], key: str) -> float | None:
    if key not in metrics or key not in intact:
        return None
    return metrics[key] - intact[key]
