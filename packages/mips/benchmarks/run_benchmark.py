"""Run the MIPS pipeline on benchmark tasks and print a table next to the paper's flags.

Usage (from the workspace root)::

    .venv/bin/python packages/mips/benchmarks/run_benchmark.py --budget 90 --jobs 2
    .venv/bin/python packages/mips/benchmarks/run_benchmark.py --tasks Sum_All,Prev1 --budget 30

Each task: ``synthesize_task`` on ``--n-sequences`` drawn with the benchmark seed (train/test
split as in the paper), verification on the whole test split, exhaustively where the input space
has at most 2**20 sequences, and on sequences twice as long. One JSON line per task goes to
``--out`` (and each program to ``--programs``), then a Markdown table is printed.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def run_one(args: tuple[str, float, int, int, str | None]) -> dict[str, Any]:
    name, budget, n_sequences, seed, programs = args
    import torch

    torch.set_num_threads(1)
    from interplab.mips.pipeline import synthesize_task
    from interplab.mips.tasks import get_task

    task = get_task(name)
    started = time.monotonic()
    try:
        result = synthesize_task(
            task, n_sequences=n_sequences, seed=seed, time_budget_s=budget, progress=False
        )
    except Exception as error:  # a benchmark row records the failure and moves on
        return {
            "task": name,
            "index": task.spec.index,
            "error": repr(error),
            "solved": False,
            "seconds": time.monotonic() - started,
            "mips_solved": task.spec.mips_solved,
            "gpt4_solved": task.spec.gpt4_solved,
        }
    v = result.verification
    if programs and result.source:
        Path(programs).mkdir(parents=True, exist_ok=True)
        (Path(programs) / f"{task.spec.index:02d}_{name}.py").write_text(result.source)
    return {
        "task": name,
        "index": task.spec.index,
        "solved": result.solved,
        "exact_test": None if v is None else v.exact_test,
        "exact_exhaustive": None if v is None else v.exact_exhaustive,
        "exact_2x": None if v is None else v.exact_2x_length,
        "hidden_dim": result.hidden_dim,
        "architecture": None if result.architecture is None else result.architecture.describe(),
        "rnn_accuracy": result.rnn_accuracy,
        "stage": result.stage,
        "program_lines": result.program_lines,
        "seconds": result.timings.get("total", 0.0),
        "verify_seconds": result.timings.get("verify", 0.0),
        "routes": {r.route: (r.stage if r.spec else r.reason) for r in result.routes},
        "mips_solved": task.spec.mips_solved,
        "gpt4_solved": task.spec.gpt4_solved,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    rows = sorted(rows, key=lambda r: r["index"])
    columns = [
        "#",
        "task",
        "solved",
        "exact_test",
        "exhaustive",
        "exact_2x",
        "n",
        "RNN",
        "stage",
        "s",
        "paper_MIPS",
        "GPT-4",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print(
            f"| {r['index']} | {r['task']} | {_flag(r['solved'])} | {_flag(r.get('exact_test'))} "
            f"| {_flag(r.get('exact_exhaustive'))} | {_flag(r.get('exact_2x'))} "
            f"| {r.get('hidden_dim') or '-'} | {r.get('architecture') or r.get('error', '-')} "
            f"| {r.get('stage') or '-'} | {r['seconds']:.0f} | {_flag(r['mips_solved'])} "
            f"| {_flag(r['gpt4_solved'])} |"
        )
    solved = {r["task"] for r in rows if r["solved"]}
    paper = {r["task"] for r in rows if r["mips_solved"]}
    gpt4 = {r["task"] for r in rows if r["gpt4_solved"]}
    print(
        f"\nsolved {len(solved)}/{len(rows)}; paper MIPS solved {len(paper)} of these "
        f"(both {len(solved & paper)}, only here {len(solved - paper)}, only paper "
        f"{len(paper - solved)}); GPT-4 {len(gpt4)}; exact at 2x length "
        f"{sum(1 for r in rows if r.get('exact_2x'))}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="all", help="comma-separated names, or 'all'")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per task")
    parser.add_argument("--n-sequences", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="tasks run in parallel")
    parser.add_argument("--out", default=None, help="JSON-lines file to append rows to")
    parser.add_argument("--programs", default=None, help="folder to write the programs to")
    parser.add_argument("--table-only", default=None, help="print the table of a JSON-lines file")
    args = parser.parse_args(argv)
    if args.table_only:
        rows = [json.loads(line) for line in Path(args.table_only).read_text().splitlines() if line]
        print_table(rows)
        return
    from interplab.mips.tasks import list_tasks

    names = list_tasks() if args.tasks == "all" else args.tasks.split(",")
    jobs = [(n, args.budget, args.n_sequences, args.seed, args.programs) for n in names]
    rows = []
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for row in pool.imap_unordered(run_one, jobs):
            rows.append(row)
            print(
                f"{row['task']}: solved={row['solved']} stage={row.get('stage')} "
                f"n={row.get('hidden_dim')} {row['seconds']:.0f}s",
                file=sys.stderr, flush=True,
            )  # fmt: skip
            if args.out:
                with open(args.out, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
    print_table(rows)


if __name__ == "__main__":
    main()
