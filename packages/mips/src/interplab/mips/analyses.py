"""The MIPS analysis: ``mips.synthesize`` (Michaud et al. 2024, arXiv 2402.05110).

For each benchmark task: draw the data with the benchmark's seed and split, search the smallest
exact RNN, simplify it, read a program off its hidden states, and verify the program on the
task (whole test split, whole input space where enumerable, twice the length). One record per
task, with the program's source as a ``text/x-python`` artifact.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, ClassVar

from pydantic import Field, field_validator

from interplab.core.analysis import Analysis, AnalysisConfig, RunContext
from interplab.core.cache import Cache
from interplab.core.errors import ConfigError
from interplab.core.records import ExperimentRecord, MetricSpec

__all__ = ["MipsSynthesis", "MipsSynthesisConfig", "task_names"]


class MipsSynthesisConfig(AnalysisConfig):
    """Config of ``mips.synthesize``."""

    task: str = "Binary_Addition"
    """A task name, several separated by commas, or ``all`` for the 62 tasks."""
    n_train: int = Field(default=18_000, ge=100)
    """Training sequences drawn per task (the test split is drawn alongside, in the paper's
    proportion: 10 % of the data, 20 % for Isaac Liao's tasks)."""
    time_budget_s: float | None = Field(default=120.0, gt=0)
    """Rough wall-clock budget per task for search and extraction; None means unlimited."""
    max_exhaustive: int = Field(default=2**20, ge=0)
    """Enumerate a task's input space when it has at most this many sequences."""
    simplify_steps: tuple[str, ...] | None = None
    """Simplifier chain, in order, e.g. ``["l1", "whiten", "jordan", "toeplitz", "debias",
    "quantize"]``; None means the default chain (no L1 sweep)."""

    @field_validator("task")
    @classmethod
    def _known_tasks(cls, task: str) -> str:
        task_names(task)  # raises for an unknown name; the value (and the run id) stays as given
        return task

    @field_validator("simplify_steps")
    @classmethod
    def _known_steps(cls, steps: tuple[str, ...] | None) -> tuple[str, ...] | None:
        from .simplify import check_steps

        return None if steps is None else check_steps(steps)


def task_names(spec: str) -> list[str]:
    """Canonical task names of ``all`` or a comma-separated list (unknown names raise)."""
    from interplab.mips.tasks import get_task, list_tasks

    if spec.strip().lower() == "all":
        return list(list_tasks())
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise ConfigError(f"task={spec!r} names no task; pass a name, a comma list, or 'all'.")
    return [get_task(name).name for name in names]


class MipsSynthesis(Analysis):
    """Distil trained RNNs into verified Python programs, one record per benchmark task.

    Michaud et al. 2024 (MIPS), pipeline of ``mips.md`` §2: smallest exact RNN (§6), normalizers
    (§7), integer lattice / bit finder / minimal state machine (§8, §9), regression (§10), program
    emission and strict verification (§11).
    """

    name = "mips.synthesize"
    Config = MipsSynthesisConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "mips.solved": MetricSpec(
            higher_is_better=True,
            description="1 if the program is exact on the test split and the enumerable space",
        ),
        "mips.exact_test": MetricSpec(
            higher_is_better=True, description="1 if exact on every test sequence"
        ),
        "mips.exact_exhaustive": MetricSpec(
            higher_is_better=True, description="1 if exact on every input sequence (if enumerated)"
        ),
        "mips.exact_2x_length": MetricSpec(
            higher_is_better=True, description="1 if exact on sequences twice as long"
        ),
        "mips.hidden_dim": MetricSpec(
            unit="units", higher_is_better=False, description="hidden size of the smallest RNN"
        ),
        "mips.program_lines": MetricSpec(
            unit="lines", higher_is_better=False, description="non-empty lines of the program"
        ),
        "mips.seconds": MetricSpec(
            unit="s", higher_is_better=False, description="wall-clock time of the pipeline"
        ),
    }

    @classmethod
    def console_summary(cls, records: Sequence[ExperimentRecord], cache: Cache) -> str | None:
        """Each task's verdict and its program's source."""
        parts = []
        for record in records:
            solved = record.metrics.get("mips.solved")
            verdict = "solved" if solved is not None and solved.value == 1.0 else "not solved"
            stage = record.params.get("stage")
            head = f"# {record.params.get('task')}: {verdict}" + (f" ({stage})" if stage else "")
            artifact = record.artifacts.get("program")
            blob = cache.read_blob(artifact.sha256) if artifact is not None else None
            parts.append(head + ("\n" + blob.decode().strip() if blob else ""))
        return "\n\n".join(parts) or None

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Synthesize and verify a program per task (results cached per task and seed)."""
        from interplab.mips.tasks import get_task

        assert isinstance(config, MipsSynthesisConfig)
        names = task_names(config.task)
        for name in ctx.progress(names, total=len(names), description="tasks"):
            task = get_task(name)
            n_sequences = math.ceil(config.n_train / task.spec.train_fraction)
            key = {
                "what": "mips.synthesize/task", "task": name, "n_sequences": n_sequences,
                "seed": ctx.seed, "budget": config.time_budget_s,
                "max_exhaustive": config.max_exhaustive, "v": 1,
            }  # fmt: skip
            if config.simplify_steps is not None:  # keys of default runs stay as they were
                key["simplify_steps"] = list(config.simplify_steps)
            summary: dict[str, Any] = ctx.cache.get_or_compute(
                key, partial(_summarise, task, n_sequences, config, ctx.seed)
            )
            metrics = {k: float(v) for k, v in summary["metrics"].items() if v is not None}
            artifacts = {}
            if summary["source"]:
                artifacts["program"] = ctx.artifact(
                    summary["source"].encode(), media_type="text/x-python",
                    title=f"program for {name} ({summary['params']['stage']})",
                )  # fmt: skip
            yield ctx.record(
                metrics,
                key=name,
                params={"task": name, **summary["params"]},
                artifacts=artifacts,
            )


def _summarise(
    task: Any, n_sequences: int, config: MipsSynthesisConfig, seed: int
) -> dict[str, Any]:
    """Run the pipeline on one task; return JSON values (metrics, params, source)."""
    from interplab.mips.pipeline import SynthesisConfig, synthesize_task

    steps = config.simplify_steps
    synthesis = SynthesisConfig() if steps is None else SynthesisConfig(simplify_steps=steps)
    result = synthesize_task(
        task, n_sequences=n_sequences, seed=seed, time_budget_s=config.time_budget_s,
        progress=False, max_exhaustive=config.max_exhaustive, config=synthesis,
    )  # fmt: skip
    check = result.verification

    def as_float(value: bool | None) -> float | None:
        return None if value is None else float(value)

    return {
        "metrics": {
            "mips.solved": float(result.solved),
            "mips.exact_test": as_float(None if check is None else check.exact_test),
            "mips.exact_exhaustive": as_float(None if check is None else check.exact_exhaustive),
            "mips.exact_2x_length": as_float(None if check is None else check.exact_2x_length),
            "mips.hidden_dim": result.hidden_dim,
            "mips.program_lines": result.program_lines,
            "mips.seconds": result.timings.get("total", 0.0),
        },
        "params": {
            "stage": result.stage,
            "architecture": None if result.architecture is None else result.architecture.describe(),
            "rnn_accuracy": result.rnn_accuracy,
            "routes": {r.route: (r.stage if r.spec else r.reason) for r in result.routes},
            "simplification": [f"{s.name}: {s.reason}" for s in result.simplification],
            "n_sequences": n_sequences,
        },
        "source": result.source,
    }
