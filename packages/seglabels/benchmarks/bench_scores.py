"""Speed and memory of interplab.seglabels against cleanlab 2.9.0, side by side in one process.

    python packages/seglabels/benchmarks/bench_scores.py [--n 100] [--reps 5] [--with-pool]

On the reference's default fixture (100 images of 256×256, K = 10, float32 pred_probs):
softmin image scores, the Confident-Learning issue mask (cleanlab with n_jobs=1, its fastest
setting; with ``--with-pool`` also its default n_jobs=None, a process pool per image, ~100 s)
and num_pixel_issues.

Time: the variants of a call run interleaved (ours as by default, which checks every value;
ours with ``check_values=False``; ours on 2 threads; cleanlab; repeated) in this process, so
load from other programs hits all of them alike. The table gives median wall times and the
ratio of medians cleanlab / variant (> 1: faster than cleanlab), and the same ratio of CPU
times (process time; for threads it adds both threads' time). Cleanlab checks no values.

Results: softmin's largest relative difference from cleanlab, whether the masks and the
num_pixel_issues scores are identical.

Memory, two ways, per call beyond the inputs (which are already in memory):
- tracemalloc peak: every numpy array and Python object the call allocates (numpy reports its
  buffers to tracemalloc), in this process;
- peak RSS increase: in a fresh subprocess per call, which loads the inputs from .npy files,
  warms up (imports) on one image, resets the kernel's high-water mark (/proc/self/clear_refs)
  and reads VmHWM − VmRSS after the call: everything the process really touched.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures import make_dataset

Calls = dict[str, dict[str, Callable[[], Any]]]


def calls(labels: np.ndarray, probs: np.ndarray, *, pool: bool) -> Calls:
    """{call: {variant: fn}}; the first variant is ours as by default; the last cleanlab's."""
    from cleanlab.segmentation.filter import find_label_issues as cl_issues
    from cleanlab.segmentation.rank import get_label_quality_scores as cl_scores

    from interplab.seglabels import find_label_issues, image_scores

    table: Calls = {
        "softmin": {
            "interplab": lambda: image_scores(labels, probs),
            "interplab check_values=False": lambda: image_scores(labels, probs, check_values=False),
            "interplab n_jobs=2": lambda: image_scores(labels, probs, n_jobs=2),
            "cleanlab": lambda: cl_scores(labels, probs, verbose=False)[0],
        },
        "issue mask (cleanlab n_jobs=1)": {
            "interplab": lambda: find_label_issues(labels, probs),
            "interplab check_values=False": lambda: find_label_issues(
                labels, probs, check_values=False
            ),
            "interplab n_jobs=2": lambda: find_label_issues(labels, probs, n_jobs=2),
            "cleanlab": lambda: cl_issues(labels, probs, n_jobs=1, verbose=False),
        },
        "num_pixel_issues (cleanlab n_jobs=1)": {
            "interplab": lambda: image_scores(labels, probs, method="num_pixel_issues"),
            "interplab check_values=False": lambda: image_scores(
                labels, probs, method="num_pixel_issues", check_values=False
            ),
            "interplab n_jobs=2": lambda: image_scores(
                labels, probs, method="num_pixel_issues", n_jobs=2
            ),
            "cleanlab": lambda: cl_scores(
                labels, probs, method="num_pixel_issues", n_jobs=1, verbose=False
            )[0],
        },
    }
    if pool:
        table["issue mask (cleanlab default n_jobs=None)"] = {
            "interplab": lambda: find_label_issues(labels, probs),
            "cleanlab": lambda: cl_issues(labels, probs, verbose=False),
        }
    return table


def agreement(call: str, ours: Any, theirs: Any) -> str:
    """How one of our results compares with cleanlab's."""
    if call == "softmin":
        return f"max rel diff {float(np.max(np.abs(ours - theirs) / np.abs(theirs))):.1e}"
    same = np.array_equal(ours, theirs)
    if "mask" in call:
        return f"identical ({int(theirs.sum()):,} px)" if same else "DIFFERENT"
    return "identical" if same else "DIFFERENT"


Times = dict[str, dict[str, list[float]]]


def time_calls(table: Calls, reps: int) -> tuple[Times, Times, dict[str, dict[str, Any]]]:
    """Wall and CPU seconds per call and variant, the variants interleaved rep by rep.

    Also returns each variant's result from its first run.
    """
    wall: Times = {c: {v: [] for v in vs} for c, vs in table.items()}
    cpu: Times = {c: {v: [] for v in vs} for c, vs in table.items()}
    results: dict[str, dict[str, Any]] = {c: {} for c in table}
    for call, variants in table.items():
        n = 1 if "default" in call else reps
        for _ in range(n):
            for variant, fn in variants.items():
                gc.collect()
                start, start_cpu = time.perf_counter(), time.process_time()
                out = fn()
                wall[call][variant].append(time.perf_counter() - start)
                cpu[call][variant].append(time.process_time() - start_cpu)
                results[call].setdefault(variant, out)
    return wall, cpu, results


def traced_peak(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _status() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def rss_worker(data: Path, call: str, variant: str) -> None:
    """Subprocess: peak RSS increase of one call beyond the loaded inputs (JSON on stdout)."""
    labels, probs = np.load(data / "labels.npy"), np.load(data / "probs.npy")
    for fn in calls(labels[:1], probs[:1], pool=False).get(call, {}).values():
        fn()  # imports and one-time allocations
    fn = calls(labels, probs, pool=False)[call][variant]
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status()["VmRSS"]
    fn()
    print(json.dumps({"peak_rss_increase": _status()["VmHWM"] - before}))


def peak_rss_increase(data: Path, call: str, variant: str) -> int | None:
    run = subprocess.run(
        [sys.executable, __file__, "--rss-worker", str(data), call, variant],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if run.returncode:
        print(run.stderr[-2000:], file=sys.stderr)
        return None
    return int(json.loads(run.stdout.strip().splitlines()[-1])["peak_rss_increase"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--with-pool", action="store_true", help="also cleanlab's default n_jobs")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--rss-worker", nargs=3, metavar=("DATA", "CALL", "VARIANT"))
    args = parser.parse_args()
    if args.rss_worker:
        rss_worker(Path(args.rss_worker[0]), *args.rss_worker[1:])
        return

    import cleanlab
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    load_before = os.getloadavg()[0]
    labels, probs, _ = make_dataset(n=args.n)
    table = calls(labels, probs, pool=args.with_pool)
    for fn in calls(labels[:1], probs[:1], pool=False)["softmin"].values():
        fn()  # imports
    wall, cpu, results = time_calls(table, args.reps)
    load_after = os.getloadavg()[0]

    title = (
        f"{args.n} images 256×256, K=10, float32; median of {args.reps} interleaved runs "
        f"(cleanlab's default n_jobs: 1 run); cleanlab {cleanlab.__version__}, numpy "
        f"{np.__version__}, {os.cpu_count()} CPUs, load average {load_before:.1f} → "
        f"{load_after:.1f}"
    )
    out = Table(title=title)
    for column in ("call", "variant", "wall s", "cleanlab / variant", "CPU-time ratio", "results"):
        out.add_column(
            column, justify="left" if column in ("call", "variant", "results") else "right"
        )
    for call, variants in wall.items():
        med = {v: float(np.median(t)) for v, t in variants.items()}
        med_cpu = {v: float(np.median(t)) for v, t in cpu[call].items()}
        for variant in variants:
            ours = variant != "cleanlab"
            out.add_row(
                call if variant == next(iter(variants)) else "", variant, f"{med[variant]:.3f}",
                f"{med['cleanlab'] / med[variant]:.2f}×" if ours else "",
                f"{med_cpu['cleanlab'] / med_cpu[variant]:.2f}×"
                if ours and "default" not in call else "",
                agreement(call, results[call][variant], results[call]["cleanlab"]) if ours else "",
                end_section=variant == "cleanlab",
            )  # fmt: skip
    console.print(out)

    if args.skip_memory:
        return
    memory = Table(
        title="Memory per call beyond the inputs (labels 50 MiB int64 + pred_probs 250 MiB)"
    )
    for column in ("call", "variant", "tracemalloc peak MiB", "peak RSS increase MiB"):
        memory.add_column(column, justify="left" if column in ("call", "variant") else "right")
    with tempfile.TemporaryDirectory(prefix="seglabels-bench-") as tmp:
        np.save(Path(tmp) / "labels.npy", labels)
        np.save(Path(tmp) / "probs.npy", probs)
        for call, variants in table.items():
            if "default" in call:
                continue
            for variant, fn in variants.items():
                if variant != "cleanlab" and variant != "interplab" and call != "softmin":
                    continue
                rss = peak_rss_increase(Path(tmp), call, variant)
                memory.add_row(call, variant, f"{traced_peak(fn) / 2**20:.1f}",
                               "failed" if rss is None else f"{rss / 2**20:.1f}")  # fmt: skip
    console.print(memory)
    console.print(
        "tracemalloc: peak of what the call allocates through Python and numpy. Peak RSS: a "
        "fresh process per call, high-water mark reset after loading the inputs and one warm-up "
        "image. Wall times vary with the other programs on the machine; the ratios come from "
        "the same interleaved runs."
    )


if __name__ == "__main__":
    main()
