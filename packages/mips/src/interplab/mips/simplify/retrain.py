"""Retraining with some parameters frozen (the paper's "retraining with zeros frozen", §7).

Shared by :func:`~interplab.mips.simplify.quantize.quantize_and_retrain` (snapped integers
frozen) and :func:`~interplab.mips.simplify.l1.prune_and_retrain` (zeros frozen).

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor

from ..rnn import Adam, GeneralRNN, paper_loss, predict
from ..sequences import IntArray

__all__ = ["retrain_free"]


def retrain_free(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    free: list[Tensor],
    *,
    max_steps: int = 600,
    lr: float = 1e-3,
    batch_size: int = 256,
    check_every: int = 50,
    seed: int = 0,
) -> GeneralRNN:
    """Train only the free entries of every parameter until the outputs are exact.

    Frozen entries get a zero gradient, so Adam never moves them (they stay bit-identical). A
    network that is already exact is returned untrained.

    Args:
        model: the network (not modified).
        inputs: int64 ``(N, L, d_in)`` training data.
        outputs: int64 ``(N, L, d_out)``.
        free: one bool mask per ``model.parameters()`` entry, shaped like it; True = trainable.
        max_steps: Adam steps at most; stops at the first exact check on all of ``inputs``.
        lr: learning rate.
        batch_size: sequences per step.
        check_every: steps between exactness checks.
        seed: seed of the batch order.

    Returns:
        The retrained copy (check it: it may still be inexact).

    Raises:
        ValueError: ``free`` does not match the parameters.
    """
    out = copy.deepcopy(model)
    params: list[Tensor] = list(out.parameters())
    if len(free) != len(params) or any(
        m.shape != p.shape for m, p in zip(free, params, strict=True)
    ):
        raise ValueError(
            f"free has {len(free)} masks for {len(params)} parameters (or mismatched shapes); "
            "pass one mask per model.parameters() entry, shaped like it."
        )
    masks = [m.to(p.dtype) for m, p in zip(free, params, strict=True)]
    if not any(bool(m.any()) for m in masks) or np.array_equal(predict(out, inputs), outputs):
        return out
    x = torch.from_numpy(inputs).float()
    y = torch.from_numpy(outputs).float()
    optimizer = Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for step in range(1, max_steps + 1):
        index = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)
        pred, _ = out(x[index])
        loss = paper_loss(pred, y[index])
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():
            for p, mask in zip(params, masks, strict=True):
                if p.grad is not None:
                    p.grad.mul_(mask)
        optimizer.step()
        if step % check_every == 0 and np.array_equal(predict(out, inputs), outputs):
            break
    return out
