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

KINDS = ("drop_sky", "drop_car", "shift_sky", "shift_car", "swap_sky_car")


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
    columns = ["seglabels.auprc", *(f"seglabels.auprc_{k}" for k in KINDS), "seglabels.auroc"]
    grouped = frame.groupby(["param.architecture", "param.method"], sort=False)
    mean, std = grouped[columns].mean(), grouped[columns].std()
    seeds = grouped.size().max()
    miou = grouped["seglabels.miou_clean"].mean()
    base = frame["seglabels.base_rate"].mean()
    header = ["model", "method", "AUPRC all", *KINDS, "AUROC"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for arch in mean.index.get_level_values(0).unique():
        best = mean.loc[arch].max()
        for method in mean.loc[arch].index:
            cells = []
            for column in columns:
                m, s = mean.loc[(arch, method), column], std.loc[(arch, method), column]
                text = f"{m:.2f}" + (f" ± {s:.2f}" if not math.isnan(s) else "")
                cells.append(f"**{text}**" if m == best[column] else text)
            lines.append(
                f"| {arch} (mIoU {miou.loc[(arch, method)]:.2f}) | {method} | "
                + " | ".join(cells)
                + " |"
            )
    print("\n".join(lines))
    counts = grouped[columns].count().min()  # seeds with a value, per column
    fewer = [f"{c.removeprefix('seglabels.auprc_')}: {n}" for c, n in counts.items() if n < seeds]
    note = f" (fewer where a seed has no image of that error type: {', '.join(fewer)})"
    print(
        f"\n{seeds} seeds{note if fewer else ''}; base rate of mislabeled images {base:.2f} "
        "(AUPRC of a random ranking)."
    )
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        archs = list(mean.index.get_level_values(0).unique())
        fig, axes = plt.subplots(1, len(archs), figsize=(6.2 * len(archs), 3.6), squeeze=False)
        for ax, arch in zip(axes[0], archs, strict=True):
            table = mean.loc[arch]
            errors = std.loc[arch]
            width = 0.8 / len(columns[:-1])
            for i, column in enumerate(columns[:-1]):
                label = column.removeprefix("seglabels.auprc").lstrip("_") or "all"
                ax.bar([j + i * width for j in range(len(table))], table[column], width,
                       yerr=errors[column], capsize=1.5, label=label)  # fmt: skip
            ax.set_xticks([j + width * 2.5 for j in range(len(table))], table.index, rotation=25)
            ax.axhline(base, ls="--", c="grey", lw=1)
            ax.set(ylim=(0, 1.05), ylabel="AUPRC", title=f"{arch}: finding mislabeled images")
            ax.grid(axis="y", alpha=0.3)
        axes[0][0].legend(fontsize=7, ncols=3, loc="upper right")
        fig.tight_layout()
        fig.savefig(args.figure, dpi=110, metadata={"Software": None})
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
