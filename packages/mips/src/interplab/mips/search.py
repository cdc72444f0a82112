"""Search for the smallest RNN that fits a task exactly (``mips.md`` §6, made cheap).

The paper walks 75 million architectures (depths, then hidden size, then widths) with geometric
growth and binary search, 5 seeds × 10–20k steps each on a cluster. Here the walk is a short
ladder in nearly the same order of preference (linear RNNs first, then small hidden sizes, then
deeper readouts and wider layers), a few seeds per rung (a further seed only when one came
close), early stopping at 100 % validation accuracy, abandonment of runs that plateau below it,
and a wall-clock budget of which one run may take only a share; budget left after the ladder
buys further walks with fresh seeds.

Two cheap shortcuts (beyond the paper): :func:`probe_linearity` fits the data with the most
general causal linear map ``y_t = e_t + Σ_k C_k x_{t-k}`` by least squares. If rounding that fit
is not exact, no linear RNN can be exact either, so linear rungs are skipped; if it is, the rank
of the Hankel matrix of ``C_k`` is the smallest linear state size (Ho–Kalman), where the linear
rungs start, and the first seed of each linear rung starts from the fit's minimal realisation
(:func:`realize_linear`) instead of a random point, then trains as usual. Random starts reach
running sums and short delays but, within a CPU budget, not the 20-step windows.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch

from .rnn import GeneralRNN, RNNArchitecture, TrainConfig, TrainResult, train_rnn
from .sequences import IntArray, check_pair

__all__ = [
    "Attempt",
    "LinearProbe",
    "SearchResult",
    "default_ladder",
    "probe_linearity",
    "realize_linear",
    "search_architecture",
]


@dataclass(frozen=True)
class LinearProbe:
    """Result of fitting ``y_t = e_t + Σ_k C_k x_{t-k}`` by least squares."""

    is_exact: bool
    """True if the rounded fit reproduces every output."""
    hankel_rank: int
    """Numerical rank of the block Hankel matrix of the impulse response ``C_k``."""
    accuracy: float
    """Fraction of outputs the rounded fit reproduces."""
    impulse: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0, 0)))
    """float ``(L, d_out, d_in)``: the fitted ``C_k``."""
    offsets: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    """float ``(L, d_out)``: the fitted ``e_t``."""


def probe_linearity(
    inputs: IntArray, outputs: IntArray, *, max_sequences: int = 2000
) -> LinearProbe:
    """Check whether a causal linear map with position-dependent offsets fits the data exactly.

    Args:
        inputs: int64 ``(N, L, d_in)``.
        outputs: int64 ``(N, L, d_out)``.
        max_sequences: sequences used for the fit (the first ones).

    Returns:
        Whether the rounded least-squares fit is exact, its accuracy, and the Hankel rank of the
        fitted impulse response (the smallest state size of a linear RNN realising it).
    """
    check_pair(inputs, outputs)
    x = inputs[:max_sequences].astype(np.float64)
    y = outputs[:max_sequences].astype(np.float64)
    n, length, d_in = x.shape
    d_out = y.shape[2]
    lagged = np.zeros((n, length, length, d_in))
    for k in range(length):
        lagged[:, k:, k, :] = x[:, : length - k, :]
    design = np.concatenate(
        [lagged.reshape(n * length, length * d_in), np.tile(np.eye(length), (n, 1))], axis=1
    )
    target = y.reshape(n * length, d_out)
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    accuracy = float((np.round(design @ coef) == target).mean())
    impulse = coef[: length * d_in].reshape(length, d_in, d_out).transpose(0, 2, 1)
    half = (length + 1) // 2
    hankel = np.block(
        [[impulse[i + j] for j in range(half)] for i in range(half)]
    )  # (half * d_out, half * d_in)
    singular = np.linalg.svd(hankel, compute_uv=False)
    rank = int((singular > 0.05 * max(1.0, float(singular.max(initial=0.0)))).sum())
    return LinearProbe(
        is_exact=accuracy == 1.0,
        hankel_rank=rank,
        accuracy=accuracy,
        impulse=impulse,
        offsets=coef[length * d_in :],
    )


def realize_linear(probe: LinearProbe, hidden_dim: int, *, seed: int = 0) -> GeneralRNN:
    """A linear RNN realising the probe's fit: the Ho–Kalman / ERA minimal realisation.

    The position-dependent offsets ``e_t`` are the response to a constant input, so they are
    realised through the bias. With Markov parameters ``M_k = [C_k, e_k - e_{k-1}]``
    (``e_{-1} = 0``), the block Hankel matrix ``H = [M_{i+j}]`` factors as ``P S Qᵀ``; with
    ``O = P S^{1/2}`` and ``R = S^{1/2} Qᵀ`` truncated to ``n``: ``C = O[:d_out]``,
    ``[U, b] = R[:, :d_in + 1]`` and ``W = S^{-1/2} Pᵀ H' Q S^{-1/2}`` (``H'`` shifted by one).
    Directions beyond the Hankel rank are left at zero.

    Args:
        probe: an exact :func:`probe_linearity` result.
        hidden_dim: ``n`` of the network to build.
        seed: seed of the (overwritten) default initialisation.

    Returns:
        A linear :class:`GeneralRNN` whose outputs approximate the probe's fit.
    """
    length, d_out, d_in = probe.impulse.shape
    step_response = np.diff(probe.offsets, axis=0, prepend=0.0)  # (L, d_out)
    markov = np.concatenate([probe.impulse, step_response[:, :, None]], axis=2)
    blocks = max(1, length // 2)
    # One position shows no response after it: take it as zero (W = 0 then fits the data).
    markov = np.concatenate([markov, np.zeros((max(0, 2 * blocks - length), d_out, d_in + 1))])
    h0 = np.block([[markov[i + j] for j in range(blocks)] for i in range(blocks)])
    h1 = np.block([[markov[i + j + 1] for j in range(blocks)] for i in range(blocks)])
    p, singular, qt = np.linalg.svd(h0)
    n_eff = int(min(hidden_dim, (singular > 1e-6 * max(singular.max(initial=0.0), 1e-12)).sum()))
    w = np.zeros((hidden_dim, hidden_dim))
    u = np.zeros((hidden_dim, d_in + 1))
    c = np.zeros((d_out, hidden_dim))
    if n_eff:
        root = np.sqrt(singular[:n_eff])
        observe = p[:, :n_eff] * root
        control = root[:, None] * qt[:n_eff]
        c[:, :n_eff] = observe[:d_out]
        u[:n_eff] = control[:, : d_in + 1]
        w[:n_eff, :n_eff] = (p[:, :n_eff] / root).T @ h1 @ (qt[:n_eff].T / root)
    model = GeneralRNN(RNNArchitecture(1, 1, hidden_dim), d_in, d_out, seed=seed)
    write, read = model.linear_layers()
    with torch.no_grad():
        write.weight.copy_(torch.as_tensor(np.concatenate([w, u[:, :d_in]], axis=1)))
        write.bias.copy_(torch.as_tensor(u[:, d_in]))
        read.weight.copy_(torch.as_tensor(c))
        read.bias.zero_()
    return model


def default_ladder(probe: LinearProbe | None, *, max_hidden: int = 16) -> list[RNNArchitecture]:
    """Architectures to try, most preferred first.

    Linear RNNs (from the Hankel rank up) when the linear probe is exact; then ReLU recurrences
    with a linear readout, doubling the hidden size (1, 2, 4, 8, 16, like the paper's geometric
    growth), with a ReLU readout on a linear (n = 2) or ReLU (n = 4) recurrence slotted in
    before 8 and 16. The paper's order (depths before sizes) is bent for cost: small ``n``
    with a nonlinear ``f`` train in seconds and solve many tasks, while the deeper readouts
    rarely help; the widest networks are for the finite-state route, which clusters their
    hidden states into a minimal machine.

    Args:
        probe: result of :func:`probe_linearity`; ``None`` tries linear sizes 1 to 3.
        max_hidden: largest hidden size on the ladder.

    Returns:
        The ladder, without duplicates.
    """
    ladder: list[RNNArchitecture] = []
    if probe is None:
        ladder += [RNNArchitecture(1, 1, n) for n in (1, 2, 3)]
    elif probe.is_exact:
        start = max(1, probe.hankel_rank)
        ladder += [RNNArchitecture(1, 1, n) for n in range(start, min(start + 2, max_hidden) + 1)]
    ladder += [
        *(RNNArchitecture(1, 2, n, 32) for n in (1, 2, 4)),
        RNNArchitecture(2, 1, 2, 0, 32),
        RNNArchitecture(1, 2, 8, 64),
        RNNArchitecture(2, 2, 4, 32, 32),
        RNNArchitecture(1, 2, 16, 64),
    ]
    return [a for a in dict.fromkeys(ladder) if a.hidden_dim <= max_hidden]


@dataclass(frozen=True)
class Attempt:
    """One training run of the search."""

    architecture: RNNArchitecture
    seed: int
    accuracy: float
    steps: int
    seconds: float
    realized: bool = False
    """Started from the least-squares minimal realisation (with 0 steps: the closed-form fit
    was exact as it stood)."""


@dataclass
class SearchResult:
    """The smallest exact network found (or the most accurate one) and every attempt."""

    best: TrainResult | None
    """The first perfect network, else the most accurate one; None if nothing was trained."""
    architecture: RNNArchitecture | None
    attempts: list[Attempt] = field(default_factory=list)
    probe: LinearProbe | None = None
    seconds: float = 0.0

    @property
    def is_perfect(self) -> bool:
        """True if the best network is exact on the validation data."""
        return self.best is not None and self.best.is_perfect


def search_architecture(
    train: tuple[IntArray, IntArray],
    val: tuple[IntArray, IntArray],
    *,
    seed: int = 0,
    ladder: Sequence[RNNArchitecture] | None = None,
    seeds_per_architecture: int = 2,
    config: TrainConfig | None = None,
    time_budget_s: float | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    linear_init: Literal["realization", "random"] = "realization",
    attempt_share: float = 0.3,
    retry_above: float = 0.9,
    rounds: int = 3,
) -> SearchResult:
    """Walk the ladder; stop at the first architecture with a perfectly accurate seed.

    Args:
        train: int64 ``(N, L, d_in)`` inputs and ``(N, L, d_out)`` outputs to train on.
        val: held-out pair; an architecture succeeds when a seed is exact on all of it.
        seed: first training seed; seeds ``seed, seed + 1, …`` are tried per architecture.
        ladder: architectures in order of preference; ``None`` means :func:`default_ladder`
            after :func:`probe_linearity` on ``train``.
        seeds_per_architecture: seeds tried before moving on.
        config: training settings.
        time_budget_s: wall-clock budget for the whole search; ``None`` means unlimited.
        on_attempt: called after each training run (e.g. to report progress).
        linear_init: ``realization`` starts the first seed of each linear rung from
            :func:`realize_linear` of the probe (when it is exact); ``random`` uses random starts
            only, as the paper does.
        attempt_share: one training run may use at most this share of the budget left when it
            starts (runs usually end sooner, at exactness or on a plateau), so that one slow
            rung cannot starve the larger ones after it.
        retry_above: the next seed of an architecture is tried only if a random start before
            it reached this validation accuracy (or the only one before was the realisation); a
            rung whose first random start is far off moves on at once.
        rounds: walks of the ladder at most while budget is left (only the first without a
            budget). Later walks skip linear rungs, use fresh seeds, and let runs train past
            ``config.warm_steps`` even when far from exact (slow but steady learners).

    Returns:
        The result, with the attempts made and the probe used.
    """
    started = time.monotonic()
    deadline = None if time_budget_s is None else started + time_budget_s
    probe = None
    if ladder is None:
        probe = probe_linearity(*train)
        ladder = default_ladder(probe)
    result = SearchResult(best=None, architecture=None, probe=probe)
    base = config or TrainConfig()
    walks = [
        (ladder, base, seed),
        *(
            (
                [a for a in ladder if not a.is_linear],
                replace(base, warm_accuracy=0.0),
                seed + k * seeds_per_architecture,
            )
            for k in range(1, rounds if deadline is not None else 1)
        ),
    ]
    for rungs, walk_config, walk_seed in walks:
        found = _walk(
            rungs, train, val, result, probe=probe, seed=walk_seed,
            seeds=seeds_per_architecture, config=walk_config, deadline=deadline,
            on_attempt=on_attempt, linear_init=linear_init, attempt_share=attempt_share,
            retry_above=retry_above,
        )  # fmt: skip
        if found or (deadline is not None and time.monotonic() > deadline):
            break
    result.seconds = time.monotonic() - started
    return result


def _walk(
    ladder: Sequence[RNNArchitecture],
    train: tuple[IntArray, IntArray],
    val: tuple[IntArray, IntArray],
    result: SearchResult,
    *,
    probe: LinearProbe | None,
    seed: int,
    seeds: int,
    config: TrainConfig,
    deadline: float | None,
    on_attempt: Callable[[Attempt], None] | None,
    linear_init: str,
    attempt_share: float,
    retry_above: float,
) -> bool:
    """One walk of the ladder (see :func:`search_architecture`); True at an exact network.

    Linear rungs are cheap and learn running sums slowly from random starts, so they are never
    abandoned at ``config.warm_steps``.
    """
    for architecture in ladder:
        close, realised = False, False
        for offset in range(seeds):
            if deadline is not None and time.monotonic() > deadline:
                return False
            if offset and not close and not (offset == 1 and realised):
                break
            initial = None
            if (
                linear_init == "realization"
                and architecture.is_linear
                and probe is not None
                and probe.is_exact
                and offset == 0
            ):
                initial = realize_linear(probe, architecture.hidden_dim, seed=seed)
            now = time.monotonic()
            cap = None if deadline is None else now + attempt_share * (deadline - now)
            trained = train_rnn(
                architecture, train, val, seed=seed + offset, deadline=cap, initial=initial,
                config=replace(config, warm_accuracy=0.0) if architecture.is_linear else config,
            )  # fmt: skip
            attempt = Attempt(
                architecture, trained.seed, trained.accuracy, trained.steps, trained.seconds,
                realized=initial is not None,
            )  # fmt: skip
            result.attempts.append(attempt)
            realised = realised or initial is not None
            close = close or (initial is None and trained.accuracy >= retry_above)
            if on_attempt is not None:
                on_attempt(attempt)
            if result.best is None or trained.accuracy > result.best.accuracy:
                result.best, result.architecture = trained, architecture
            if trained.is_perfect:
                return True
    return False
