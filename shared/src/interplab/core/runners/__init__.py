"""Runners: turn a spec into tasks, skip what the store already has, execute, summarise."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError
from interplab.core.records import ExperimentRecord
from interplab.core.runners._backends import BACKENDS, check_workers
from interplab.core.runners._execute import Outcome, execute_task, placeholder_record
from interplab.core.specs import ExperimentSpec, Task, plan_tasks

__all__ = ["Outcome", "RunSummary", "check_workers", "execute_task", "run_spec"]


@dataclass
class RunSummary:
    """The result of :func:`run_spec`: one outcome per task, in spec order."""

    experiment: str
    store_url: str
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: str) -> int:
        """How many tasks ended with ``status``."""
        return sum(o.status == status for o in self.outcomes)

    def records(self) -> list[ExperimentRecord]:
        """The stored records of this summary's runs (also those skipped as already done)."""
        from interplab.core.store import Store

        run_ids = {o.run_id for o in self.outcomes}
        stored = Store(self.store_url).query(experiment=self.experiment)
        return [r for r in stored if r.run_id in run_ids]

    @property
    def ok(self) -> bool:
        """No task failed and nothing was interrupted."""
        return not self.interrupted and self.count("failed") == 0


def run_spec(
    spec: ExperimentSpec,
    *,
    store_url: str,
    cache_dir: str | Path,
    origin: str = "<spec>",
    runner: str = "local",
    workers: int | None = None,
    address: str | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> RunSummary:
    """Run every task of ``spec`` not yet completed in the store (all of them with ``force``).

    A task that raises is stored as ``failed`` and the others go on. On Ctrl-C the runs that
    were started and not finished are stored as ``interrupted`` and KeyboardInterrupt is
    re-raised after the summary is marked ``interrupted``. ``workers`` below 1 is a
    :class:`ConfigError` for every runner, raised before anything runs.
    """
    from interplab.core.store import Store

    if runner not in BACKENDS:
        raise ConfigError(f"runner={runner!r} is not known; use one of {sorted(BACKENDS)}.")
    check_workers(workers)
    tasks = plan_tasks(spec, origin=origin)
    store = Store(store_url)
    summary = RunSummary(spec.name, store.url)
    done = set() if force else store.completed_run_ids(t.run_id for t in tasks)
    todo = [t for t in tasks if t.run_id not in done]
    results: dict[str, Outcome] = {t.run_id: _skipped(store, t) for t in tasks if t.run_id in done}
    with _progress_display(show_progress and bool(todo), len(todo), runner) as (advance, progress):

        def on_done(outcome: Outcome) -> None:
            results[outcome.run_id] = outcome
            advance(outcome)

        try:
            BACKENDS[runner](
                todo, store.url, Path(cache_dir), on_done=on_done, progress=progress,
                workers=workers, address=address,
            )  # fmt: skip
        except KeyboardInterrupt:
            summary.interrupted = True
            _mark_interrupted(store, [t for t in todo if t.run_id not in results])
            for task in todo:
                results.setdefault(
                    task.run_id, Outcome(task.run_id, task.label, task.analysis, "interrupted")
                )
            summary.outcomes = [results[t.run_id] for t in tasks]
            store.close()
            raise
    summary.outcomes = [results[t.run_id] for t in tasks]
    store.close()
    return summary


def _skipped(store: Any, task: Task) -> Outcome:
    records = store.query(run_id=task.run_id, limit=1)
    headline = {k: m.value for k, m in records[0].metrics.items()} if records else {}
    return Outcome(task.run_id, task.label, task.analysis, "skipped", headline=headline)


def _mark_interrupted(store: Any, tasks: list[Task]) -> None:
    """Runs still ``running`` (their worker died with the interrupt) become ``interrupted``."""
    by_id = {t.run_id: t for t in tasks}
    if not by_id:
        return
    for record in store.query(run_id=list(by_id), status="running"):
        task = by_id[record.run_id]
        store.add(
            placeholder_record(task, "interrupted", started_at=record.started_at, env=record.env)
        )


@contextmanager
def _progress_display(
    enabled: bool, total: int, runner: str
) -> Iterator[tuple[Callable[[Outcome], None], Progress]]:
    if not enabled:
        yield (lambda _o: None), no_progress
        return
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        overall = bar.add_task(f"runs ({runner})", total=total)

        def advance(outcome: Outcome) -> None:
            mark = {"completed": "[green]✓", "failed": "[red]✗"}.get(outcome.status, "·")
            bar.console.print(f"{mark}[/] {escape(outcome.label)} ({outcome.seconds:.1f} s)")
            bar.advance(overall)

        def progress(
            iterable: Iterable[Any], total: int | None = None, description: str = ""
        ) -> Iterator[Any]:
            if total is None and isinstance(iterable, Sized):
                total = len(iterable)
            sub = bar.add_task(f"  {description}", total=total)
            try:
                for item in iterable:
                    yield item
                    bar.advance(sub)
            finally:
                bar.remove_task(sub)

        yield advance, progress
