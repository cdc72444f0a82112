"""The simplifier chain: each step is kept only if the rounded outputs stay the same (§7).

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from interplab.core.errors import ConfigError

from ..rnn import GeneralRNN, hidden_states, predict
from ..sequences import IntArray
from .basis import change_basis, debias, integrality, whiten
from .forms import integer_basis, toeplitz_basis
from .l1 import l1_finetune
from .quantize import quantize, quantize_and_retrain

__all__ = ["DEFAULT_STEPS", "STEPS", "SimplifyStep", "check_steps", "simplify_rnn"]

STEPS = ("l1", "whiten", "jordan", "toeplitz", "debias", "quantize")
"""Every simplifier :func:`simplify_rnn` knows, in the paper's order."""
DEFAULT_STEPS = ("whiten", "jordan", "toeplitz", "debias", "quantize")
"""The default chain: the normalizers, without the (slower) L1 sweep."""


def check_steps(steps: Sequence[str]) -> tuple[str, ...]:
    """``steps`` as a tuple, every name one of :data:`STEPS`.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"unknown simplifier {unknown[0]!r}; use some of {list(STEPS)}.")
    return tuple(steps)


@dataclass(frozen=True)
class SimplifyStep:
    """What one simplifier did."""

    name: str
    is_applied: bool
    reason: str
    """Why it was skipped or undone, or a short note on what it did."""


def _is_sane(model: GeneralRNN) -> bool:
    return all(
        bool(torch.isfinite(p.detach()).all()) and float(p.detach().abs().max()) < 1e4
        for p in model.parameters()
    )


def _preserves(model: GeneralRNN, inputs: IntArray, expected: IntArray) -> bool:
    return bool(np.array_equal(predict(model, inputs), expected))


def _quantize_step(
    model: GeneralRNN,
    inputs: IntArray,
    expected: IntArray,
    outputs: IntArray | None,
    *,
    seed: int,
    tolerances: Sequence[float] = (0.2, 0.1, 0.02),
) -> tuple[GeneralRNN, SimplifyStep]:
    """The most aggressive snapping (largest tolerance) that keeps the network exact."""
    for tol in tolerances:
        candidate = quantize(model, tol=tol)
        if _is_sane(candidate) and _preserves(candidate, inputs, expected):
            return candidate, SimplifyStep("quantize", True, f"applied (tol {tol})")
        if outputs is not None and model.architecture.hidden_depth == 1:
            repaired = quantize_and_retrain(model, inputs, outputs, tol=tol, seed=seed)
            if _is_sane(repaired) and _preserves(repaired, inputs, outputs):
                return repaired, SimplifyStep(
                    "quantize", True, f"applied (tol {tol}), then retrained unsnapped weights"
                )
    return model, SimplifyStep("quantize", False, "undone: snapping changed rounded outputs")


def _l1_step(
    model: GeneralRNN, inputs: IntArray, outputs: IntArray | None, *, seed: int
) -> tuple[GeneralRNN, SimplifyStep]:
    """The L1 sweep, kept if it stays exact on the true outputs."""
    if outputs is None:
        return model, SimplifyStep("l1", False, "not applicable: needs the true outputs")
    tuned, result = l1_finetune(model, inputs, outputs, seed=seed)
    if result.epsilon is None:
        return model, SimplifyStep("l1", False, "undone: no penalty kept 100 % accuracy")
    if not (_is_sane(tuned) and _preserves(tuned, inputs, outputs)):
        return model, SimplifyStep("l1", False, "undone: it changed rounded outputs")
    note = (
        f"applied (ε {result.epsilon:g}, Σ|θ| {result.l1_before:.3g} → {result.l1_after:.3g}, "
        f"{result.zeroed} weights zeroed and frozen)"
    )
    return tuned, SimplifyStep("l1", True, note)


def simplify_rnn(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray | None = None,
    *,
    steps: Sequence[str] = DEFAULT_STEPS,
    seed: int = 0,
) -> tuple[GeneralRNN, list[SimplifyStep]]:
    """Apply the simplifier chain, keeping only steps that leave every rounded output unchanged.

    A ``toeplitz`` step must also leave the recurrence's weights no further from integers than
    before (:func:`~interplab.mips.simplify.basis.integrality`).

    Args:
        model: a trained network (not modified).
        inputs: int64 ``(N, L, d_in)`` check data; the rounded outputs of ``model`` on it must
            not change (a few thousand sequences are plenty).
        outputs: int64 ``(N, L, d_out)`` true outputs of ``inputs``; when given, a quantize
            step that breaks the network is repaired by retraining the unsnapped weights
            (:func:`quantize_and_retrain`), and accepted if the result is exact on them. The
            ``l1`` step needs them (it trains on them).
        steps: names among :data:`STEPS`, in order (default :data:`DEFAULT_STEPS`).
        seed: seed of the retraining.

    Returns:
        The simplified network and one :class:`SimplifyStep` per requested step.

    Raises:
        ConfigError: an unknown step name (a ValueError).
    """

    def jordan(m: GeneralRNN) -> tuple[GeneralRNN, str]:
        basis, form = integer_basis(m)
        return change_basis(m, basis), f"applied ({form} form)"

    known: dict[str, Callable[[GeneralRNN], tuple[GeneralRNN, str]]] = {
        "whiten": lambda m: (
            whiten(m, hidden_states(m, inputs).reshape(-1, hidden_dim)),
            "applied",
        ),
        "jordan": jordan,
        "toeplitz": lambda m: (change_basis(m, toeplitz_basis(m)), "applied"),
        "debias": lambda m: (debias(m), "applied"),
    }
    check_steps(steps)
    hidden_dim = model.architecture.hidden_dim
    expected = predict(model, inputs)
    report = []
    current = model
    for name in steps:
        if name in ("quantize", "l1"):
            if name == "quantize":
                current, step = _quantize_step(current, inputs, expected, outputs, seed=seed)
            else:
                current, step = _l1_step(current, inputs, outputs, seed=seed)
            report.append(step)
            if step.is_applied:  # retraining may have fixed outputs the original got wrong
                expected = predict(current, inputs)
            continue
        try:
            candidate, note = known[name](current)
        except (ValueError, np.linalg.LinAlgError, RuntimeError) as error:
            report.append(SimplifyStep(name, False, f"not applicable: {error}"))
            continue
        if not _is_sane(candidate):
            report.append(SimplifyStep(name, False, "undone: weights became non-finite or huge"))
        elif not _preserves(candidate, inputs, expected):
            report.append(SimplifyStep(name, False, "undone: it changed rounded outputs"))
        elif name == "toeplitz" and integrality(candidate) > integrality(current) + 1e-4:
            report.append(SimplifyStep(name, False, "undone: weights became less integral"))
        else:
            report.append(SimplifyStep(name, True, note))
            current = candidate
    return current, report
