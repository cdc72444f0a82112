"""MIPS end to end: data → smallest exact RNN → simplified RNN → states → program → checks.

:func:`synthesize` works from data alone: it holds out part of the given sequences, searches for
the smallest RNN that is exact on them (:mod:`~interplab.mips.search`), simplifies it
(:mod:`~interplab.mips.simplify`), reads programs off it along four routes
(:mod:`~interplab.mips.routes`: lattice, window, bits, finite-state machine), and keeps the
program that is exact on every given sequence, preferring formulas to tables, then the shorter
source (a purely integer-linear program ends the search at once).
:func:`synthesize_task` does the same on a benchmark task's training split and then verifies the
program on the task (:mod:`~interplab.mips.verify`): test split, whole input space where it is
enumerable, and twice the length.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from interplab.core.errors import ConfigError

from .codegen import emit_program, load_program, name_states
from .rnn import RNNArchitecture, TrainConfig
from .routes import (
    RouteResult,
    bits_route,
    fsm_route,
    lattice_route,
    read_machine,
    window_route,
)
from .search import Attempt, SearchResult, search_architecture
from .sequences import as_sequences, check_pair
from .simplify import DEFAULT_STEPS, SimplifyStep, simplify_rnn
from .states.fsm import StateMachine
from .tasks import Task
from .verify import VerificationReport, count_mismatches, verify_program

__all__ = ["SynthesisConfig", "SynthesisResult", "synthesize", "synthesize_task"]

Program = Callable[[list[Any]], list[Any]]


@dataclass(frozen=True)
class SynthesisConfig:
    """Knobs of :func:`synthesize` (defaults suit a laptop CPU and the 62 benchmark tasks)."""

    validation_fraction: float = 0.1
    """Share of the given sequences held out to judge the RNN (when no validation is given)."""
    max_train_sequences: int = 4000
    """Sequences the RNN trains on (a subset, as the search is much cheaper than the paper's)."""
    max_state_sequences: int = 3000
    """Sequences whose hidden states are read to find the program."""
    search_share: float = 0.7
    """Share of the time budget the architecture search may use."""
    seeds_per_architecture: int = 2
    train: TrainConfig = field(default_factory=TrainConfig)
    routes: tuple[str, ...] = ("lattice", "window", "bits", "fsm")
    """Routes tried, in order of preference for equally good programs."""
    min_rnn_accuracy: float = 0.99
    """Read programs off an imperfect RNN only if it is at least this accurate."""
    linear_init: Literal["realization", "random"] = "realization"
    """Start linear candidates from the least-squares minimal realisation (fast) or at random
    (the paper's way; see :func:`~interplab.mips.search.search_architecture`)."""
    simplify_steps: tuple[str, ...] = DEFAULT_STEPS
    """Simplifiers applied to the network, in order (see
    :func:`~interplab.mips.simplify.simplify_rnn`); add ``"l1"`` first for the L1 sweep."""


@dataclass
class SynthesisResult:
    """What :func:`synthesize` found, and how."""

    solved: bool
    """:func:`synthesize`: the program is exact on every given sequence. :func:`synthesize_task`:
    exact on the task's test split and on its whole input space where enumerable."""
    source: str | None
    """Python source defining ``program(seq)`` (standard library only)."""
    program: Program | None
    """The compiled ``program``."""
    architecture: RNNArchitecture | None
    """The smallest exact network found (or the most accurate, if none was exact)."""
    stage: str | None
    """Route and hardest regressor of the program, e.g. ``lattice:LR``, ``fsm:SR``."""
    rnn_accuracy: float | None
    """Validation accuracy of that network."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage: ``search``, ``simplify``, ``routes``, ``check``, ``total``."""
    routes: list[RouteResult] = field(default_factory=list)
    simplification: list[SimplifyStep] = field(default_factory=list)
    search: SearchResult | None = None
    verification: VerificationReport | None = None
    """Task-level checks (only from :func:`synthesize_task`)."""

    @property
    def hidden_dim(self) -> int | None:
        """Hidden size of the network the program was read from."""
        return None if self.architecture is None else self.architecture.hidden_dim

    @property
    def program_lines(self) -> int:
        """Non-empty lines of the source (0 without a program)."""
        return (
            0
            if self.source is None
            else sum(1 for line in self.source.splitlines() if line.strip())
        )


def _reporter(progress: bool | Callable[[str], None]) -> Callable[[str], None]:
    if callable(progress):
        return progress
    if progress:
        return lambda message: print(f"[mips] {message}", file=sys.stderr, flush=True)
    return lambda message: None


def _rank(route: RouteResult, source: str, order: tuple[str, ...]) -> tuple[int, int, int]:
    """Formulas before tables, then the shorter source, then the earlier route."""
    tables = sum(b == "table" for b in route.backends)
    return tables, len(source), order.index(route.route)


def synthesize(
    inputs: Any,
    outputs: Any,
    *,
    seed: int = 0,
    time_budget_s: float | None = None,
    progress: bool | Callable[[str], None] = True,
    validation: tuple[Any, Any] | None = None,
    config: SynthesisConfig | None = None,
) -> SynthesisResult:
    """Distil a trained RNN into a Python program that maps ``inputs`` to ``outputs``.

    Args:
        inputs: integer ``(N, L)`` or ``(N, L, d_in)`` sequences.
        outputs: integer ``(N, L)`` or ``(N, L, d_out)``, one output per input position.
        seed: seed of every training run (``seed, seed + 1, …`` across attempts).
        time_budget_s: rough wall-clock budget for the whole pipeline; ``None`` means none (the
            search then walks its whole ladder if needed).
        progress: ``True`` prints one line per stage to stderr; a callable receives the lines.
        validation: held-out ``(inputs, outputs)``; ``None`` holds out the last
            ``config.validation_fraction`` of the given sequences.
        config: pipeline settings.

    Returns:
        The result; ``solved`` means the program reproduces every given sequence, held-out
        ones included. The program itself never looks at the data.

    Raises:
        ConfigError: the arrays are not integer sequences, or too few to hold some out, or
            ``time_budget_s`` is not a positive number.
    """
    started = time.monotonic()
    if time_budget_s is not None and not time_budget_s > 0:  # NaN included
        raise ConfigError(
            f"time_budget_s={time_budget_s!r} leaves no time to search; pass a positive number "
            "of seconds (e.g. 60), or None for no budget."
        )
    cfg = config or SynthesisConfig()
    report = _reporter(progress)
    x, y = as_sequences(inputs), as_sequences(outputs, name="outputs")
    check_pair(x, y)
    if validation is None:
        n_val = max(1, round(len(x) * cfg.validation_fraction))
        if n_val >= len(x):
            raise ConfigError(
                f"{len(x)} sequences leave nothing to train on after holding out "
                f"validation_fraction={cfg.validation_fraction}; pass more sequences or "
                "validation=(inputs, outputs)."
            )
        x_train, y_train, x_val, y_val = x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]
    else:
        x_val = as_sequences(validation[0])
        y_val = as_sequences(validation[1], name="validation outputs")
        check_pair(x_val, y_val)
        x_train, y_train = x, y
    deadline = None if time_budget_s is None else started + time_budget_s
    timings: dict[str, float] = {}

    def on_attempt(attempt: Attempt) -> None:
        report(
            f"trained {attempt.architecture.describe()} seed {attempt.seed}: accuracy "
            f"{attempt.accuracy:.4f} in {attempt.steps} steps ({attempt.seconds:.1f} s)"
        )

    tick = time.monotonic()
    search = search_architecture(
        (x_train[: cfg.max_train_sequences], y_train[: cfg.max_train_sequences]),
        (x_val, y_val),
        seed=seed,
        seeds_per_architecture=cfg.seeds_per_architecture,
        config=cfg.train,
        time_budget_s=None if time_budget_s is None else time_budget_s * cfg.search_share,
        on_attempt=on_attempt,
        linear_init=cfg.linear_init,
    )
    timings["search"] = time.monotonic() - tick
    result = SynthesisResult(
        solved=False, source=None, program=None, architecture=search.architecture, stage=None,
        rnn_accuracy=None if search.best is None else search.best.accuracy, timings=timings,
        search=search,
    )  # fmt: skip
    if search.best is None or search.best.accuracy < cfg.min_rnn_accuracy:
        report("no network accurate enough to read a program from")
        timings["total"] = time.monotonic() - started
        return result
    tick = time.monotonic()
    model, steps = simplify_rnn(
        search.best.model, x_train[:2000], y_train[:2000], steps=cfg.simplify_steps, seed=seed
    )
    result.simplification = steps
    timings["simplify"] = time.monotonic() - tick
    report(
        "simplified: " + ", ".join(f"{s.name} {'ok' if s.is_applied else 'skipped'}" for s in steps)
    )
    x_states, y_states = x_train[: cfg.max_state_sequences], y_train[: cfg.max_state_sequences]
    x_all, y_all = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    tick = time.monotonic()
    candidates: list[tuple[tuple[int, int, int], RouteResult, str, Program]] = []
    machine: StateMachine | None = None
    has_machine = False
    for route_name in cfg.routes:
        remaining = 60.0 if deadline is None else max(5.0, deadline - time.monotonic())
        budget = min(60.0, remaining / 2)
        if route_name in ("bits", "fsm") and not has_machine:
            until = time.monotonic() + budget
            machine, has_machine = read_machine(model, x_states, y_states, deadline=until), True
        if route_name == "lattice":
            route = lattice_route(model, x_states, y_states, time_budget_s=budget)
        elif route_name == "window":
            route = window_route(model, x_train, y_train, time_budget_s=budget)
        elif route_name == "bits":
            route = bits_route(
                model, x_states, y_states, machine=machine, seed=seed, time_budget_s=budget
            )
        elif route_name == "fsm":
            route = fsm_route(model, x_states, y_states, machine=machine, time_budget_s=budget)
        else:
            raise ConfigError(f"unknown route {route_name!r}; use lattice, window, bits or fsm.")
        result.routes.append(route)
        if route.spec is None:
            report(f"{route_name}: no program ({route.reason})")
            continue
        arch = search.architecture
        described = arch.describe() if arch else "?"
        notes = (
            *route.spec.notes,
            f"RNN: {described}, validation accuracy {search.best.accuracy:.4f}.",
        )
        spec = name_states(route.spec)
        source = emit_program(replace(spec, notes=notes))
        program = load_program(source)
        wrong = count_mismatches(program, x_all, y_all)
        report(f"{route.stage}: program wrong on {wrong} of {len(x_all)} sequences")
        if wrong == 0:
            candidates.append((_rank(route, source, cfg.routes), route, source, program))
            if all(b == "linear" for b in route.backends):
                break  # integer-linear updates: nothing shorter to look for
    timings["routes"] = time.monotonic() - tick
    if candidates:
        _, route, source, program = min(candidates, key=lambda c: c[0])
        result.solved, result.source, result.program, result.stage = (
            True,
            source,
            program,
            route.stage,
        )
    timings["total"] = time.monotonic() - started
    return result


def synthesize_task(
    task: Task,
    *,
    n_sequences: int = 20_000,
    seed: int = 0,
    time_budget_s: float | None = None,
    progress: bool | Callable[[str], None] = True,
    max_exhaustive: int = 2**20,
    config: SynthesisConfig | None = None,
) -> SynthesisResult:
    """Synthesize a program for a benchmark task and verify it on the task.

    Draws ``n_sequences`` with the benchmark's seed and split (train first), runs
    :func:`synthesize` on the training part, then checks the program on the whole test part,
    on every input sequence when there are at most ``max_exhaustive``, and on sequences twice as
    long.

    Args:
        task: the task.
        n_sequences: sequences drawn (train + test).
        seed: training seed.
        time_budget_s: budget of :func:`synthesize` (verification comes on top).
        progress: as in :func:`synthesize`.
        max_exhaustive: largest input space enumerated.
        config: pipeline settings.

    Returns:
        The result with ``verification`` set; ``solved`` is ``verification.solved``.
    """
    train, test = task.splits(n=n_sequences)
    result = synthesize(
        train.inputs, train.outputs, seed=seed, time_budget_s=time_budget_s, progress=progress,
        config=config,
    )  # fmt: skip
    tick = time.monotonic()
    if result.program is not None:
        result.verification = verify_program(
            result.program, task, test=test, max_exhaustive=max_exhaustive
        )
        result.solved = result.verification.solved
    else:
        result.solved = False
    result.timings["verify"] = time.monotonic() - tick
    return result
