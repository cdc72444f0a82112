"""Snapping weights to integers, and repairing the network when snapping breaks it (§7).

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

import copy

import torch

from ..rnn import GeneralRNN
from ..sequences import IntArray
from .retrain import retrain_free

__all__ = ["quantize", "quantize_and_retrain"]


def quantize(model: GeneralRNN, *, tol: float = 0.01) -> GeneralRNN:
    """Snap every weight and bias within ``tol`` of an integer to that integer.

    Args:
        model: the network.
        tol: largest distance to an integer that is snapped.

    Returns:
        The quantized copy.
    """
    out = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in out.parameters():
            nearest = torch.round(parameter)
            parameter.copy_(torch.where((parameter - nearest).abs() <= tol, nearest, parameter))
    return out


def quantize_and_retrain(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    *,
    tol: float = 0.02,
    max_steps: int = 600,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> GeneralRNN:
    """Snap near-integer weights, freeze them, and retrain the rest until outputs are exact.

    Args:
        model: the network (not modified).
        inputs: int64 ``(N, L, d_in)`` training data.
        outputs: int64 ``(N, L, d_out)``.
        tol: largest distance to an integer that is snapped.
        max_steps: Adam steps at most (stops at the first exact check on all of ``inputs``).
        lr: learning rate.
        batch_size: sequences per step.
        seed: seed of the batch order.

    Returns:
        The snapped, retrained copy (check it: it may still be inexact).
    """
    out = quantize(model, tol=tol)
    free = [(p - torch.round(p)).abs() > 0 for p in out.parameters()]
    return retrain_free(
        out, inputs, outputs, free, max_steps=max_steps, lr=lr, batch_size=batch_size, seed=seed
    )
