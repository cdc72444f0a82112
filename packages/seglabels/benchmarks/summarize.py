"""Table and figure of a `seglabels.benchmark` experiment, from the store.

    python packages/seglabels/benchmarks/summarize.py --experiment seglabels-synthetic \\
        [--store URL] [--figure packages/seglabels/benchmark.png]

Prints a markdown table: AUPRC (mean ± standard deviation over seeds) per architecture and
method, overall and per error type, with AUROC and the model's mIoU; the best method per column
and architecture in bold.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("drop_sky", "drop_car", "shift_sky", "shift_car", "swap_sky_car")
COLUMNS = ["seglabels.auprc", *(f"seglabels.auprc_{k}" for k in KINDS), "seglabels.auroc"]
MISSING = "–"
"""Shown for a column no seed has a value of (no image of that error type in any seed)."""


def aggregate(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(mean, standard deviation, count) over seeds of :data:`COLUMNS` per (architecture, method).

    An error type that no seed drew has no column in the store's frame (a tiny run): it is added
    as NaN, so it shows as missing instead of failing.
    """
    frame = frame.reindex(columns=[*frame.columns, *(c for c in COLUMNS if c not in frame)])
    grouped = frame.groupby(["param.architecture", "param.method"], sort=False)[COLUMNS]
    return grouped.mean(), grouped.std(), grouped.count()


def markdown(frame: pd.DataFrame) -> str:
    """The markdown table of the README and the note on seeds and the base rate."""
    mean, std, counts = aggregate(frame)
    grouped = frame.groupby(["param.architecture", "param.method"], sort=False)
    seeds = grouped.size().max()
    miou = grouped["seglabels.miou_clean"].mean()
    base = frame["seglabels.base_rate"].mean()
    header = ["model", "method", "AUPRC all", *KINDS, "AUROC"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for arch in mean.index.get_level_values(0).unique():
        best = mean.loc[arch].max()
        for method in mean.loc[arch].index:
            cells = [
                _cell(mean.loc[(arch, method), c], std.loc[(arch, method), c], best[c])
                for c in COLUMNS
            ]
            lines.append(
                f"| {arch} (mIoU {miou.loc[(arch, method)]:.2f}) | {method} | "
                + " | ".join(cells)
                + " |"
            )
    fewest = counts.min()  # seeds with a value, per column
    fewer = [f"{c.removeprefix('seglabels.auprc_')}: {n}" for c, n in fewest.items() if n < seeds]
    note = f" (fewer where a seed has no image of that error type: {', '.join(fewer)})"
    return "\n".join(lines) + (
        f"\n\n{seeds} seeds{note if fewer else ''}; base rate of mislabeled images {base:.2f} "
        "(AUPRC of a random ranking)."
    )


def _cell(m: float, s: float, best: float) -> str:
    """``0.84 ± 0.07``, bold if the best of its column; ``–`` if no seed has a value."""
    if math.isnan(m):
        return MISSING
    text = f"{m:.2f}" + (f" ± {s:.2f}" if not math.isnan(s) else "")
    return f"**{text}**" if m == best else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiment", default="seglabels-synthetic")
    parser.add_argument("--store", default=None)
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()

    from interplab.core.store import Store

    frame = Store(args.store).to_frame(
        wide=True, experiment=args.experiment, analysis="seglabels.benchmark", status="completed"
    )
    if frame.empty:
        raise SystemExit(f"no completed seglabels.benchmark records in {args.experiment!r}")
    print(markdown(frame))
    if args.figure:
        figure(frame, args.figure)
        print(f"figure: {args.figure}")


def figure(frame: pd.DataFrame, path: Path) -> None:
    """AUPRC bars per method and error type, one panel per architecture, saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean, std, _ = aggregate(frame)
    base = frame["seglabels.base_rate"].mean()
    archs = list(mean.index.get_level_values(0).unique())
    fig, axes = plt.subplots(1, len(archs), figsize=(6.2 * len(archs), 3.6), squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=True):
        table = mean.loc[arch]
        errors = std.loc[arch]
        width = 0.8 / len(COLUMNS[:-1])
        for i, column in enumerate(COLUMNS[:-1]):
            label = column.removeprefix("seglabels.auprc").lstrip("_") or "all"
            ax.bar([j + i * width for j in range(len(table))], table[column], width,
                   yerr=errors[column], capsize=1.5, label=label)  # fmt: skip
        ax.set_xticks([j + width * 2.5 for j in range(len(table))], table.index, rotation=25)
        ax.axhline(base, ls="--", c="grey", lw=1)
        ax.set(ylim=(0, 1.05), ylabel="AUPRC", title=f"{arch}: finding mislabeled images")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, ncols=3, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})


if __name__ == "__main__":
    main()
