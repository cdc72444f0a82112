"""The 62-task benchmark as an experiment: its spec, and its table next to the paper's columns.

:func:`benchmark_spec` makes one ``mips.synthesize`` run per task (so a process pool or a Ray
cluster runs tasks in parallel, and a rerun skips the tasks already in the store);
:func:`benchmark_table` turns the stored records into one row per task with the paper's MIPS and
GPT-4 flags (``mips_tasks.json``) beside ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from interplab.core.specs import ExperimentSpec, RunSpec

if TYPE_CHECKING:
    import pandas as pd

    from interplab.core.records import ExperimentRecord

__all__ = ["benchmark_spec", "benchmark_table", "table_markdown", "text_or_dash"]


def benchmark_spec(
    tasks: str = "all",
    *,
    time_budget_s: float = 120.0,
    n_train: int = 18_000,
    seed: int = 0,
    name: str = "mips-benchmark",
    simplify_steps: Sequence[str] | None = None,
) -> ExperimentSpec:
    """One ``mips.synthesize`` run per task of ``tasks`` (``all`` or comma-separated names).

    ``simplify_steps`` replaces the default simplifier chain (e.g. to add ``l1``); left at None,
    the runs are the default ones (same run ids, so stored results are reused).
    """
    from interplab.mips.analyses import task_names
    from interplab.mips.simplify import check_steps

    config: dict[str, Any] = {"time_budget_s": time_budget_s, "n_train": n_train}
    if simplify_steps is not None:
        config["simplify_steps"] = list(check_steps(simplify_steps))
    return ExperimentSpec(
        name=name,
        description="MIPS on the 62-task benchmark (Michaud et al. 2024, Table 1).",
        seed=seed,
        tags=["mips", "benchmark"],
        runs=[
            RunSpec(
                analysis="mips.synthesize",
                name="task",
                config=config,
                sweep={"task": task_names(tasks)},
            )
        ],
    )


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def benchmark_table(records: Sequence[ExperimentRecord]) -> pd.DataFrame:
    """One row per task (newest record wins), in the paper's task order.

    Columns: ``index, task, solved, exact_test, exact_exhaustive, exact_2x, hidden_dim,
    architecture, stage, program_lines, seconds, paper_mips, paper_gpt4``.
    """
    import pandas as pd

    from interplab.mips.tasks import get_task

    latest: dict[str, ExperimentRecord] = {}
    for record in sorted(records, key=lambda r: r.finished_at or r.started_at):
        if record.analysis == "mips.synthesize" and "task" in record.params:
            latest[str(record.params["task"])] = record
    rows = []
    for task_name, record in latest.items():
        spec = get_task(task_name).spec
        m = {k.removeprefix("mips."): v.value for k, v in record.metrics.items()}
        rows.append(
            {
                "index": spec.index,
                "task": task_name,
                "status": record.status,
                "solved": bool(m.get("solved", 0.0)),
                "exact_test": _flag(m.get("exact_test")),
                "exact_exhaustive": _flag(m.get("exact_exhaustive")),
                "exact_2x": _flag(m.get("exact_2x_length")),
                "hidden_dim": m.get("hidden_dim"),
                "architecture": record.params.get("architecture"),
                "stage": record.params.get("stage"),
                "program_lines": m.get("program_lines"),
                "seconds": m.get("seconds"),
                "paper_mips": spec.mips_solved,
                "paper_gpt4": spec.gpt4_solved,
            }
        )
    return (
        pd.DataFrame(rows).sort_values("index").reset_index(drop=True) if rows else pd.DataFrame()
    )


def _mark(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return "✔" if value else "✘"


def text_or_dash(value: Any) -> str:
    """A text cell, or "–" where it is missing (None, or the NaN pandas puts in its place)."""
    return value if isinstance(value, str) and value else "–"


def table_markdown(frame: pd.DataFrame) -> str:
    """The table as Markdown, with a totals line comparing with the paper."""
    head = (
        "| # | task | solved | exact test | exhaustive | exact 2× length | RNN | stage "
        "| lines | s | paper MIPS | GPT-4 |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in frame.itertuples():
        lines.append(
            f"| {r.index} | {r.task} | {_mark(r.solved)} | {_mark(r.exact_test)} "
            f"| {_mark(r.exact_exhaustive)} | {_mark(r.exact_2x)} | {text_or_dash(r.architecture)} "
            f"| {text_or_dash(r.stage)} "
            f"| {'' if r.program_lines != r.program_lines else int(r.program_lines or 0)} "
            f"| {0 if r.seconds != r.seconds else r.seconds or 0:.0f} "
            f"| {_mark(r.paper_mips)} | {_mark(r.paper_gpt4)} |"
        )
    ours, paper, gpt4 = (set(frame.task[frame[c]]) for c in ("solved", "paper_mips", "paper_gpt4"))
    lines.append(
        f"\n**Solved {len(ours)} of {len(frame)}** (paper's MIPS: {len(paper)}, GPT-4: "
        f"{len(gpt4)}); both us and the paper: {len(ours & paper)}, only us: "
        f"{len(ours - paper)} ({', '.join(sorted(ours - paper)) or '–'}), only the paper: "
        f"{len(paper - ours)} ({', '.join(sorted(paper - ours)) or '–'}); exact at twice the "
        f"length: {int(frame.exact_2x.fillna(False).astype(bool).sum())}."
    )
    return "\n".join(lines)
