"""Run one task: seed, build the context, call the analysis, write its records atomically.

This is the function every runner calls, in this process, a worker process or a Ray worker; it
opens its own store connection so tasks write concurrently.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from interplab.core.analysis import Progress, RunContext, no_progress
from interplab.core.records import Environment, ExperimentRecord, Status
from interplab.core.specs import Task

__all__ = ["Outcome", "execute_task", "placeholder_record"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one task."""

    run_id: str
    label: str
    analysis: str
    status: str
    """``completed``, ``failed``, ``interrupted`` or ``skipped``."""
    n_records: int = 0
    seconds: float = 0.0
    error: str | None = None
    headline: dict[str, float] = field(default_factory=dict)
    """The first record's metrics (for the summary table)."""


def placeholder_record(
    task: Task,
    status: Status,
    *,
    error: str | None = None,
    started_at: datetime | None = None,
    env: Environment,
) -> ExperimentRecord:
    """The record that stands for a run that has no results: running, failed or interrupted.

    ``env`` is the run's environment (captured once per run by :func:`execute_task`).
    """
    now = datetime.now(UTC)
    return ExperimentRecord(
        id=task.run_id,
        run_id=task.run_id,
        package=task.package,
        analysis=task.analysis,
        status=status,
        started_at=started_at or now,
        finished_at=None if status == "running" else now,
        params=task.config,
        experiment=task.experiment,
        tags=task.tags,
        error=error,
        env=env,
    )


def execute_task(
    task: Task, store_url: str, cache_dir: str | Path, progress: Progress = no_progress
) -> Outcome:
    """Run ``task`` and store its records; a failure is stored as a ``failed`` record.

    KeyboardInterrupt marks the run ``interrupted`` in the store and is re-raised. The run's
    state is a marker record (id = run id) beside its results: a rerun (``--force``) keeps the
    stored results until the new ones replace them all at once, so a rerun that fails or is
    interrupted loses nothing (the marker then says what happened to it).
    """
    from interplab.core.cache import Cache
    from interplab.core.device import describe_device, resolve_device, seed_everything
    from interplab.core.environment import capture_environment
    from interplab.core.registry import get_analysis
    from interplab.core.store import Store
    from interplab.core.threads import cpu_threads

    store = Store(store_url)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    env = capture_environment(seed=task.seed, analysis=task.analysis)  # markers carry it too
    store.add(placeholder_record(task, "running", started_at=started, env=env))
    try:
        analysis_cls = get_analysis(task.analysis)
        config = analysis_cls.Config.model_validate(task.config)
        device = resolve_device(task.device)
        env = env.model_copy(update={"device": describe_device(device)})
        seed_everything(task.seed)
        # the run's time starts here: importing the plugin and torch (paid by a process's first
        # run only) would otherwise make the first run of every worker look slow
        started, clock = datetime.now(UTC), time.perf_counter()
        ctx = RunContext(
            run_id=task.run_id,
            analysis=task.analysis,
            package=task.package,
            params=task.config,
            seed=task.seed,
            device=device,
            cache=Cache(cache_dir),
            env=env,
            metric_specs=analysis_cls.metrics,
            experiment=task.experiment,
            tags=task.tags,
            progress=progress,
            started_at=started,
        )
        with cpu_threads(device):  # no more torch threads than idle cores: see core.threads
            records = list(analysis_cls().run(config, ctx))
        bad = [type(r).__name__ for r in records if not isinstance(r, ExperimentRecord)]
        if bad:
            raise TypeError(f"{task.analysis}.run yielded {bad[:3]}; yield ctx.record(...) results")
        if not records:  # a run with nothing to report is still done
            records = [placeholder_record(task, "completed", started_at=started, env=env)]
        store.replace_run(task.run_id, records)
        headline = {k: m.value for k, m in records[0].metrics.items()}
        seconds = time.perf_counter() - clock
        return Outcome(
            task.run_id, task.label, task.analysis, "completed", len(records), seconds,
            headline=headline,
        )  # fmt: skip
    except KeyboardInterrupt:
        store.add(placeholder_record(task, "interrupted", started_at=started, env=env))
        raise
    except Exception as error:
        message = f"{type(error).__name__}: {error}\n{_traceback_tail(error)}"
        store.add(placeholder_record(task, "failed", error=message, started_at=started, env=env))
        return Outcome(
            task.run_id, task.label, task.analysis, "failed", 0, time.perf_counter() - clock,
            error=f"{type(error).__name__}: {error}",
        )  # fmt: skip
    finally:
        store.close()


def _traceback_tail(error: BaseException, lines: int = 12) -> str:
    text = "".join(traceback.format_exception(error))
    return "\n".join(text.rstrip().splitlines()[-lines:])
