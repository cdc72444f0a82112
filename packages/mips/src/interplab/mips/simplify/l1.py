"""L1 fine-tuning: a sweep over the penalty ε, then pruning with zeros frozen (``mips.md`` §7).

For each ε of a grid, the trained network is fine-tuned from its original weights on
``loss + ε·Σ|θ|`` (the paper's log loss, Adam with weight decay 0, as the paper's AdamW) and the
checkpoint with the lowest penalised loss on the data is kept. :func:`select_epsilon` then picks
one as the paper does: the largest ε still at 100 % accuracy, or the ε two grid steps smaller if
its loss is lower; none at 100 % keeps the original network. Finally the weights the penalty made
tiny are set to 0 and the rest retrained with those zeros frozen (:func:`prune_and_retrain`).

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..rnn import Adam, GeneralRNN, paper_loss, predict, rnn_accuracy
from ..sequences import IntArray
from .retrain import retrain_free

__all__ = [
    "EPSILONS",
    "EpsilonRun",
    "L1Result",
    "l1_finetune",
    "l1_norm",
    "prune_and_retrain",
    "select_epsilon",
]

EPSILONS = (1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0)
"""The paper's grid of L1 penalties."""


@dataclass(frozen=True)
class EpsilonRun:
    """The best checkpoint of the fine-tuning at one ε."""

    epsilon: float
    accuracy: float
    """Fraction of output entries predicted exactly on the given data."""
    loss: float
    """Penalised loss ``loss + ε·Σ|θ|`` on the given data (what chose the checkpoint)."""
    l1_norm: float
    """``Σ|θ|`` over every parameter."""


@dataclass(frozen=True)
class L1Result:
    """What :func:`l1_finetune` did."""

    epsilon: float | None
    """The chosen ε; ``None`` when no ε kept 100 % accuracy (the original is returned)."""
    runs: tuple[EpsilonRun, ...]
    """One per ε tried, in grid order (fewer than the grid if the time budget ran out)."""
    l1_before: float
    l1_after: float
    zeroed: int
    """Parameters set to exactly 0 and frozen after the sweep (0 if pruning broke the network)."""


def l1_norm(model: GeneralRNN) -> float:
    """``Σ|θ|`` over every parameter of ``model``."""
    return float(sum(p.detach().abs().sum() for p in model.parameters()))


def select_epsilon(runs: Sequence[EpsilonRun]) -> EpsilonRun | None:
    """The paper's choice among the ε sweep (``select_l1s.py``).

    The largest ε whose checkpoint is 100 % accurate; but if the run two grid steps below it
    has a lower loss (and is 100 % accurate too), that one.

    Args:
        runs: one per ε, in any order; the grid is their sorted ε.

    Returns:
        The chosen run, or ``None`` if no run is 100 % accurate.
    """
    ordered = sorted(runs, key=lambda r: r.epsilon)
    exact = [i for i, r in enumerate(ordered) if r.accuracy == 1.0]
    if not exact:
        return None
    best = ordered[exact[-1]]
    safer = ordered[max(0, exact[-1] - 2)]
    return safer if safer.accuracy == 1.0 and safer.loss < best.loss else best


def _penalised_loss(model: GeneralRNN, x: Tensor, y: Tensor, epsilon: float) -> Tensor:
    pred, _ = model(x)
    penalty = sum((p.abs().sum() for p in model.parameters()), torch.zeros(()))
    return paper_loss(pred, y) + epsilon * penalty


def _finetune(
    model: GeneralRNN,
    data: tuple[Tensor, Tensor],
    epsilon: float,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    eval_every: int,
    seed: int,
    deadline: float | None,
) -> GeneralRNN:
    """Fine-tune a copy on the penalised loss; return its lowest-loss checkpoint on ``data``."""
    out = copy.deepcopy(model)
    optimizer = Adam(list(out.parameters()), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    x, y = data
    best_loss, best_state = float("inf"), out.state_dict()
    for step in range(steps + 1):
        if step % eval_every == 0 or step == steps:
            with torch.no_grad():
                loss = float(_penalised_loss(out, *data, epsilon))
            if loss < best_loss:
                best_loss, best_state = loss, {k: v.clone() for k, v in out.state_dict().items()}
        if step == steps or (deadline is not None and time.monotonic() > deadline):
            break
        index = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)
        loss_t = _penalised_loss(out, x[index], y[index], epsilon)
        optimizer.zero_grad()
        loss_t.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    out.load_state_dict(best_state)
    return out


def prune_and_retrain(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    *,
    tol: float = 1e-2,
    max_steps: int = 600,
    lr: float = 1e-3,
    seed: int = 0,
) -> GeneralRNN:
    """Set every parameter within ``tol`` of 0 to exactly 0, then retrain the others.

    The zeros (old and new) are frozen during retraining (the paper's "retraining with zeros
    frozen"); retraining stops as soon as the outputs are exact.

    Args:
        model: the network (not modified).
        inputs: int64 ``(N, L, d_in)``.
        outputs: int64 ``(N, L, d_out)``.
        tol: largest magnitude set to 0.
        max_steps: Adam steps at most.
        lr: learning rate of the retraining.
        seed: seed of the batch order.

    Returns:
        The pruned, retrained copy (check it: it may still be inexact).
    """
    out = copy.deepcopy(model)
    with torch.no_grad():
        for p in out.parameters():
            p.masked_fill_(p.abs() <= tol, 0.0)
    free = [p.detach() != 0 for p in out.parameters()]
    return retrain_free(out, inputs, outputs, free, max_steps=max_steps, lr=lr, seed=seed)


def _zeros(model: GeneralRNN) -> int:
    return int(sum(int((p.detach() == 0).sum()) for p in model.parameters()))


def l1_finetune(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    *,
    epsilons: Sequence[float] = EPSILONS,
    steps: int = 200,
    lr: float = 1e-4,
    batch_size: int = 256,
    eval_every: int = 25,
    prune_tol: float = 1e-2,
    seed: int = 0,
    time_budget_s: float | None = None,
) -> tuple[GeneralRNN, L1Result]:
    """Sweep the L1 penalty, pick ε as the paper does, then prune with zeros frozen.

    Every ε starts from ``model``'s weights. The paper trains 10,000 steps per ε on 4,096
    sequences; the default here is a short polish that takes a few seconds for a small RNN.

    Args:
        model: a trained network (not modified).
        inputs: int64 ``(N, L, d_in)``: trained and checked on (accuracy, checkpoint choice).
        outputs: int64 ``(N, L, d_out)``.
        epsilons: the grid of penalties, in increasing order.
        steps: Adam steps per ε.
        lr: learning rate (the paper: 1e-4).
        batch_size: sequences per step.
        eval_every: steps between checkpoint evaluations (step 0, the original, included).
        prune_tol: parameters at most this large are zeroed after the sweep
            (:func:`prune_and_retrain`); the pruning is dropped if it cannot be made exact.
        seed: seed of the batch order (the same for every ε).
        time_budget_s: stop the sweep (possibly inside an ε) after this many seconds.

    Returns:
        The chosen network (``model`` itself if no ε kept 100 % accuracy) and an
        :class:`L1Result`.

    Raises:
        ValueError: ``epsilons`` is empty, not increasing, or has a negative value.
    """
    grid = list(epsilons)
    if not grid or min(grid) < 0 or grid != sorted(set(grid)):
        raise ValueError(
            f"epsilons={tuple(epsilons)} is not a grid; pass distinct non-negative penalties in "
            "increasing order, e.g. the paper's interplab.mips.simplify.EPSILONS."
        )
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
    data = (torch.from_numpy(inputs).float(), torch.from_numpy(outputs).float())
    before = l1_norm(model)
    runs: list[EpsilonRun] = []
    models: dict[float, GeneralRNN] = {}
    for epsilon in grid:
        if deadline is not None and time.monotonic() > deadline:
            break
        tuned = _finetune(
            model, data, epsilon, steps=steps, lr=lr, batch_size=batch_size,
            eval_every=eval_every, seed=seed, deadline=deadline,
        )  # fmt: skip
        with torch.no_grad():
            loss = float(_penalised_loss(tuned, *data, epsilon))
        accuracy = rnn_accuracy(tuned, inputs, outputs)
        runs.append(EpsilonRun(epsilon, accuracy, loss, l1_norm(tuned)))
        models[epsilon] = tuned
    chosen = select_epsilon(runs)
    if chosen is None:
        return model, L1Result(None, tuple(runs), before, before, 0)
    best = models[chosen.epsilon]
    pruned = prune_and_retrain(best, inputs, outputs, tol=prune_tol, seed=seed)
    zeroed = _zeros(pruned) - _zeros(best)
    if zeroed > 0 and np.array_equal(predict(pruned, inputs), outputs):
        best = pruned
    else:
        zeroed = 0
    return best, L1Result(chosen.epsilon, tuple(runs), before, l1_norm(best), zeroed)
