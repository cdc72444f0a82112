"""Speed of interplab.seglabels against cleanlab 2.9.0, side by side in one process.

    python packages/seglabels/benchmarks/bench_scores.py [--n 100] [--reps 5]

On the reference's default fixture (100 images, 256×256, 10 classes, float32): softmin image
scores, the Confident-Learning issue mask (cleanlab with n_jobs=1, its fastest setting, and
with its default n_jobs=None, a process pool per image), and num_pixel_issues. Reports the
minimum over interleaved repetitions and the ratio cleanlab / interplab (> 1: we are faster).
Our calls include full input validation (label range, NaN, negatives, sums over K), which
cleanlab does not do.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures import make_dataset


def best_of(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--skip-pool", action="store_true", help="skip cleanlab's default n_jobs")
    args = parser.parse_args()

    from cleanlab.segmentation.filter import find_label_issues as cl_issues
    from cleanlab.segmentation.rank import get_label_quality_scores as cl_scores
    from rich.console import Console
    from rich.table import Table

    from interplab.seglabels import find_label_issues, image_scores

    labels, probs, _ = make_dataset(n=args.n)
    pairs = {
        "softmin": (
            lambda: image_scores(labels, probs),
            lambda: cl_scores(labels, probs, verbose=False),
        ),
        "issue mask (cleanlab n_jobs=1)": (
            lambda: find_label_issues(labels, probs),
            lambda: cl_issues(labels, probs, n_jobs=1, verbose=False),
        ),
        "num_pixel_issues (cleanlab n_jobs=1)": (
            lambda: image_scores(labels, probs, method="num_pixel_issues"),
            lambda: cl_scores(labels, probs, method="num_pixel_issues", n_jobs=1, verbose=False),
        ),
    }
    if not args.skip_pool:
        pairs["issue mask (cleanlab default n_jobs)"] = (
            lambda: find_label_issues(labels, probs),
            lambda: cl_issues(labels, probs, verbose=False),
        )
    table = Table(title=f"{args.n} images 256×256, K=10, float32; min of {args.reps} interleaved")
    for column in ("call", "interplab s", "cleanlab s", "cleanlab / interplab"):
        table.add_column(column, justify="left" if column == "call" else "right")
    for name, (ours, theirs) in pairs.items():
        reps = 1 if "default" in name else args.reps
        a = b = float("inf")
        for _ in range(reps):  # interleave so load changes hit both
            a = min(a, best_of(ours, 1))
            b = min(b, best_of(theirs, 1))
        table.add_row(name, f"{a:.3f}", f"{b:.3f}", f"{b / a:.2f}×")
    Console().print(table)


if __name__ == "__main__":
    main()
