"""Where tasks execute: in this process, in a process pool, or on a Ray cluster.

Each backend takes the tasks and calls ``on_done(outcome)`` as each finishes; KeyboardInterrupt
propagates to :func:`interplab.core.runners.run_spec`, which marks unfinished runs interrupted.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError, MissingExtraError
from interplab.core.runners._execute import Outcome, execute_task
from interplab.core.specs import Task

__all__ = ["BACKENDS", "Backend", "check_workers"]

OnDone = Callable[[Outcome], None]
Backend = Callable[..., None]


def check_workers(workers: int | None, name: str = "workers") -> None:
    """Refuse a worker count below 1 (``None`` means the runner's default), for every runner.

    ``name`` is how the caller spells the argument in the message (``--workers`` on the CLI).
    """
    if workers is not None and workers < 1:
        raise ConfigError(
            f"{name}={workers} must be at least 1 (the number of worker processes); leave it "
            "out for the runner's default (one per CPU)."
        )


def run_local(
    tasks: Sequence[Task], store_url: str, cache_dir: Path, *, on_done: OnDone,
    progress: Progress = no_progress, workers: int | None = None, **_: Any,
) -> None:  # fmt: skip
    """One task after another in this process (analysis progress bars are shown).

    ``workers`` is checked like the other runners' (and otherwise unused).
    """
    check_workers(workers)
    for task in tasks:
        on_done(execute_task(task, store_url, cache_dir, progress))


def _default_workers(workers: int | None) -> int:
    check_workers(workers)
    return workers or max(1, os.cpu_count() or 2)


def run_process(
    tasks: Sequence[Task], store_url: str, cache_dir: Path, *, on_done: OnDone,
    workers: int | None = None, **_: Any,
) -> None:  # fmt: skip
    """A pool of ``workers`` spawned processes (default: one per CPU), each writing its records."""
    workers = _default_workers(workers)  # checked before a process starts
    context = multiprocessing.get_context("spawn")  # safe with torch and CUDA
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    pending: set[Future[Outcome]] = set()
    try:
        pending = {pool.submit(_execute_in_worker, t, store_url, str(cache_dir)) for t in tasks}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                on_done(future.result())
    except BaseException:
        for future in pending:
            future.cancel()
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()  # runs left 'running' are marked interrupted by run_spec
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _execute_in_worker(task: Task, store_url: str, cache_dir: str) -> Outcome:
    try:
        return execute_task(task, store_url, cache_dir)
    except KeyboardInterrupt:  # the pool would hand this worker the next queued task
        os._exit(130)


def run_ray(
    tasks: Sequence[Task], store_url: str, cache_dir: Path, *, on_done: OnDone,
    workers: int | None = None, address: str | None = None, **_: Any,
) -> None:  # fmt: skip
    """Ray tasks on the cluster at ``address`` (or a local Ray started here, ``workers`` CPUs).

    Every node must have interplab installed and reach the store URL; a SQLite store only works
    when all workers are on this machine (use PostgreSQL for a multi-node cluster).
    """
    check_workers(workers)
    try:
        import ray
    except ImportError:
        raise MissingExtraError("ray", "ray", "The ray runner") from None
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
        if address:
            options["address"] = address
        else:
            options["num_cpus"] = _default_workers(workers)
        ray.init(**options)
    remote = ray.remote(num_cpus=1, max_retries=0)(execute_task)
    pending = [remote.remote(task, store_url, str(cache_dir)) for task in tasks]
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                on_done(ray.get(ref))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


BACKENDS: dict[str, Backend] = {"local": run_local, "process": run_process, "ray": run_ray}
