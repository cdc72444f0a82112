"""MIPS end to end: data → smallest exact RNN → simplified RNN → states → program → checks.

:func:`synthesize` works from data alone: it holds out part of the given sequences, searches for
the smallest RNN that is exact on them (:mod:`~interplab.mips.search`), simplifies it
(:mod:`~interplab.mips.simplify`), reads programs off it along four routes
(:mod:`~interplab.mips.routes`: lattice, window, bits, finite-state machine), and keeps the
program that is exact on every given sequence, preferring formulas to tables, then the shorter
source (a purely integer-linear program ends the search at once). Routes are compared on at most
``max_check_sequences`` of the given sequences (evenly spaced, so the choice stays within the
budget on large data); only the chosen program is then checked on all of them.
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

__all__ = [
    "SynthesisConfig",
    "SynthesisResult",
    "check_sample",
    "synthesize",
    "synthesize_task",
]

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
    max_window_sequences: int = 20_000
    """Training sequences the window route tests (more make its test sharper, and slower)."""
    max_check_sequences: int = 20_000
    """Given sequences (evenly spaced) on which each route's program is checked to choose among
    the routes; the chosen program is then checked on all of them. The defaults cover the
    benchmark's 18,000 sequences whole."""
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
    """Seconds per stage: ``search``, ``simplify``, ``routes`` (each route's program checked on
    up to ``max_check_sequences``), ``check`` (the chosen program on every given sequence),
    ``total``; :func:`synthesize_task` adds ``verify`` (the task-level checks, after ``total``)."""
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


def _describe_attempt(attempt: Attempt) -> str:
    """One progress line for a training run of the search."""
    arch = attempt.architecture.describe()
    if attempt.realized and attempt.steps == 0:
        return (
            f"fitted {arch} in closed form (least-squares realisation): accuracy "
            f"{attempt.accuracy:.4f} ({attempt.seconds:.1f} s)"
        )
    start = " from the least-squares realisation" if attempt.realized else ""
    return (
        f"trained {arch} seed {attempt.seed}{start}: accuracy {attempt.accuracy:.4f} in "
        f"{attempt.steps} steps ({attempt.seconds:.1f} s)"
    )


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
        time_budget_s: rough wall-clock budget for search, simplification and routes; ``None``
            means none (the search then walks its whole ladder if needed). Checking the chosen
            program on every given sequence comes on top (``timings["check"]``; pure Python,
            roughly 3 s per 100,000 sequences of length 10).
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

    tick = time.monotonic()
    search = search_architecture(
        (x_train[: cfg.max_train_sequences], y_train[: cfg.max_train_sequences]),
        (x_val, y_val),
        seed=seed,
        seeds_per_architecture=cfg.seeds_per_architecture,
        config=cfg.train,
        time_budget_s=None if time_budget_s is None else time_budget_s * cfg.search_share,
        on_attempt=lambda attempt: report(_describe_attempt(attempt)),
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
    x_all, y_all = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    x_check, y_check = check_sample(x_all, y_all, cfg.max_check_sequences)
    data = _RouteData(
        x_states=x_train[: cfg.max_state_sequences],
        y_states=y_train[: cfg.max_state_sequences],
        x_window=x_train[: cfg.max_window_sequences],
        y_window=y_train[: cfg.max_window_sequences],
        x_check=x_check,
        y_check=y_check,
        x_all=x_all,
        y_all=y_all,
    )
    tick = time.monotonic()
    candidates = _try_routes(model, data, cfg, result, deadline=deadline, seed=seed, report=report)
    timings["routes"] = time.monotonic() - tick
    tick = time.monotonic()
    chosen = _choose(candidates, data, report)
    timings["check"] = time.monotonic() - tick
    if chosen is not None:
        result.solved, result.source, result.program = True, chosen.source, chosen.program
        result.stage = chosen.route.stage
    timings["total"] = time.monotonic() - started
    return result


@dataclass(frozen=True)
class _RouteData:
    """The sequences each part of the route stage looks at (all int64 ``(N, L, d)``)."""

    x_states: Any
    y_states: Any
    x_window: Any
    y_window: Any
    x_check: Any
    """Sample on which the routes' programs are compared."""
    y_check: Any
    x_all: Any
    """Every given sequence, held-out ones included."""
    y_all: Any

    @property
    def is_sampled(self) -> bool:
        """True when the check sample is smaller than the data."""
        return len(self.x_check) < len(self.x_all)


@dataclass
class _Candidate:
    """A route's program that is exact on the check sample."""

    rank: tuple[int, int, int]
    route: RouteResult
    source: str
    program: Program
    exact_on_all: bool | None = None
    """Checked on every given sequence: True or False; None while not yet checked."""


def check_sample(inputs: Any, outputs: Any, limit: int) -> tuple[Any, Any]:
    """At most ``limit`` sequences, evenly spaced from first to last (deterministic).

    Args:
        inputs: ``(N, …)`` sequences.
        outputs: ``(N, …)``, row for row.
        limit: most sequences kept.

    Returns:
        ``(inputs, outputs)`` themselves when ``N <= limit``, else ``limit`` rows of each.

    Raises:
        ConfigError: ``limit`` is below 1.
    """
    if limit < 1:
        raise ConfigError(f"max_check_sequences={limit} checks nothing; pass at least 1.")
    if len(inputs) <= limit:
        return inputs, outputs
    index = np.linspace(0, len(inputs) - 1, limit).round().astype(np.int64)
    return inputs[index], outputs[index]


def _run_route(
    name: str,
    model: Any,
    data: _RouteData,
    machine: StateMachine | None,
    *,
    seed: int,
    budget: float,
) -> RouteResult:
    """One route on the (simplified) network."""
    x, y = data.x_states, data.y_states
    if name == "lattice":
        return lattice_route(model, x, y, time_budget_s=budget)
    if name == "window":
        return window_route(model, data.x_window, data.y_window, time_budget_s=budget)
    if name == "bits":
        return bits_route(model, x, y, machine=machine, seed=seed, time_budget_s=budget)
    if name == "fsm":
        return fsm_route(model, x, y, machine=machine, time_budget_s=budget)
    raise ConfigError(f"unknown route {name!r}; use lattice, window, bits or fsm.")


def _try_routes(
    model: Any,
    data: _RouteData,
    cfg: SynthesisConfig,
    result: SynthesisResult,
    *,
    deadline: float | None,
    seed: int,
    report: Callable[[str], None],
) -> list[_Candidate]:
    """Run the routes in order; return the programs exact on the check sample.

    A purely integer-linear program ends the search once it is exact on every given sequence.
    """
    candidates: list[_Candidate] = []
    machine: StateMachine | None = None
    has_machine = False
    for route_name in cfg.routes:
        remaining = 60.0 if deadline is None else max(5.0, deadline - time.monotonic())
        budget = min(60.0, remaining / 2)
        if route_name in ("bits", "fsm") and not has_machine:
            until = time.monotonic() + budget
            machine = read_machine(model, data.x_states, data.y_states, deadline=until)
            has_machine = True
        route = _run_route(route_name, model, data, machine, seed=seed, budget=budget)
        result.routes.append(route)
        if route.spec is None:
            report(f"{route_name}: no program ({route.reason})")
            continue
        candidate = _candidate(route, cfg, result, data, report)
        if candidate is None:
            continue
        candidates.append(candidate)
        if all(b == "linear" for b in route.backends) and _exact_on_all(candidate, data, report):
            break  # integer-linear updates: nothing shorter to look for
    return candidates


def _candidate(
    route: RouteResult,
    cfg: SynthesisConfig,
    result: SynthesisResult,
    data: _RouteData,
    report: Callable[[str], None],
) -> _Candidate | None:
    """The route's program if it is exact on the check sample, else None."""
    assert route.spec is not None and result.search is not None
    best = result.search.best
    described = result.architecture.describe() if result.architecture else "?"
    accuracy = f"{best.accuracy:.4f}" if best is not None else "?"
    notes = (*route.spec.notes, f"RNN: {described}, validation accuracy {accuracy}.")
    source = emit_program(replace(name_states(route.spec), notes=notes))
    program = load_program(source)
    wrong = count_mismatches(program, data.x_check, data.y_check)
    report(f"{route.stage}: program wrong on {wrong} of {len(data.x_check)} sequences")
    if wrong:
        return None
    exact = None if data.is_sampled else True
    return _Candidate(_rank(route, source, cfg.routes), route, source, program, exact)


def _exact_on_all(candidate: _Candidate, data: _RouteData, report: Callable[[str], None]) -> bool:
    """Check the candidate on every given sequence (once; the answer is kept)."""
    if candidate.exact_on_all is None:
        wrong = count_mismatches(candidate.program, data.x_all, data.y_all)
        report(
            f"{candidate.route.stage}: program wrong on {wrong} of all {len(data.x_all)} sequences"
        )
        candidate.exact_on_all = wrong == 0
    return candidate.exact_on_all


def _choose(
    candidates: list[_Candidate], data: _RouteData, report: Callable[[str], None]
) -> _Candidate | None:
    """The best-ranked candidate that is exact on every given sequence.

    Only the chosen program is checked on all the data, unless it fails there (then the next).
    """
    for candidate in sorted(candidates, key=lambda c: c.rank):
        if _exact_on_all(candidate, data, report):
            return candidate
    return None


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
