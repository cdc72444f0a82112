"""Residual sharpening: how the last block changes the output entropy, and which neurons do it.

Legend: N prediction positions (as in :mod:`.logit_lens`), D = d_mlp neurons of the last
executed block, x_in / x_out the residual entering / leaving that block at a position,
a_i its neuron activations (``mlp.hook_post``) and w_i the rows of its ``W_out`` [D, d_model].
H(x) is the entropy in bits of ``softmax(unembed(ln_final(x)))`` (the recompute logit lens with
``b_U``; H(x_out) is the model's own output entropy).

- Per position: ``entropy_before = H(x_in)``, ``entropy_after = H(x_out)``; sharpening is
  ``after < before``.
- Per neuron, ``method="exact"``: the mean over positions of ``H(x_out − a_i w_i) − H(x_out)``:
  the entropy change when that neuron's direct contribution to the final residual is removed
  (identical to zero-ablating the neuron, since the last block's MLP writes straight into the
  final residual). Positive = the neuron lowers the entropy (sharpens). Cost: N × D decodings
  of d_model × V each.
- ``method="first_order"``: the same quantity to first order, ``−a_i (∇H(x_out) · w_i)`` (one
  gradient per position), cheap enough for large models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError
from interplab.robustness.stages._capture import (
    as_batches,
    check_model,
    prediction_positions,
    run_captured,
)
from interplab.robustness.stages._head import FinalHead, check_head, entropy_bits, final_head
from interplab.robustness.tokens import TokenBatch, TokenSet

__all__ = [
    "SHARPENING_METHODS",
    "SharpeningResult",
    "neuron_entropy_effects",
    "residual_sharpening",
]

SharpeningMethod = Literal["exact", "first_order"]
SHARPENING_METHODS: tuple[str, ...] = ("exact", "first_order")
_CHUNK = 1 << 22  # positions × neurons × vocabulary per chunk


@dataclass(frozen=True)
class SharpeningResult:
    """Entropy before/after the last block per position, and per-neuron effects.

    Attributes:
        entropy_before_bits: [N] H(x_in).
        entropy_after_bits: [N] H(x_out), the model's output entropy.
        neuron_effect_bits: [D] mean entropy increase when neuron i's contribution is removed.
        method: ``exact`` or ``first_order``.
        layer: execution position of the last block (``len(model.blocks) − 1``).
        doc_ids: [N] document id of each position.
        positions: [N] position in its document.
    """

    entropy_before_bits: np.ndarray
    entropy_after_bits: np.ndarray
    neuron_effect_bits: np.ndarray
    method: str
    layer: int
    doc_ids: tuple[str, ...]
    positions: np.ndarray

    @property
    def mean_entropy_change_bits(self) -> float:
        """Mean of after − before (negative: the last block sharpens)."""
        return float(np.mean(self.entropy_after_bits - self.entropy_before_bits))

    @property
    def fraction_sharpened(self) -> float:
        """Fraction of positions whose entropy the last block lowered."""
        return float(np.mean(self.entropy_after_bits < self.entropy_before_bits))

    def top_neurons(self, n: int = 10) -> np.ndarray:
        """[≤ n] indices of the most sharpening neurons (largest effect first)."""
        return np.argsort(-self.neuron_effect_bits, kind="stable")[:n]


def neuron_entropy_effects(
    head: FinalHead,
    x_out: torch.Tensor,
    activations: torch.Tensor,
    w_out: torch.Tensor,
    *,
    method: SharpeningMethod = "exact",
) -> torch.Tensor:
    """[N, D] entropy change (bits) per position when each neuron's contribution is removed.

    Args:
        head: the model's final norm + unembedding.
        x_out: [N, d_model] final residual.
        activations: [N, D] the last block's neuron activations.
        w_out: [D, d_model] the last block's output weights.
        method: ``exact`` (re-decode ``x_out − a_i w_i``) or ``first_order``.
    """
    if method == "first_order":
        with torch.enable_grad():
            x = x_out.detach().clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(entropy_bits(head.logits(x)).sum(), x)
        return -activations * (grad @ w_out.T)
    base = entropy_bits(head.logits(x_out))  # [N]
    n, d = activations.shape
    vocab = head.W_U.shape[1]
    out = torch.empty(n, d, device=x_out.device)
    neurons = max(1, min(d, _CHUNK // max(vocab, 1)))
    rows = max(1, _CHUNK // (neurons * vocab))
    for r in range(0, n, rows):
        x = x_out[r : r + rows]
        for c in range(0, d, neurons):
            removed = activations[r : r + rows, c : c + neurons, None] * w_out[c : c + neurons]
            h = entropy_bits(head.logits(x[:, None, :] - removed))  # [rows, neurons]
            out[r : r + rows, c : c + neurons] = h - base[r : r + rows, None]
    return out


def residual_sharpening(
    model: Any,
    tokens: TokenSet | TokenBatch,
    *,
    method: SharpeningMethod = "exact",
    include_bos: bool = False,
    progress: Progress = no_progress,
) -> SharpeningResult:
    """Entropy before and after the last executed block, and each of its neurons' share.

    Args:
        model: a TransformerBridge; "last block" is the last one executed, so interventions
            that delete, swap or repeat blocks are read correctly.
        tokens: right-padded batches with BOS at position 0.
        method: ``exact`` or ``first_order`` (module docstring).
        include_bos: also use the prediction made at the BOS position.
        progress: ``progress(iterable, total=..., description=...)``.
    """
    if method not in SHARPENING_METHODS:
        raise ConfigError(
            f"method={method!r} is not known; use 'exact' (remove each neuron's contribution "
            "and re-decode) or 'first_order' (gradient attribution, for large models)."
        )
    check_model(model)
    batches = as_batches(tokens, model)
    head = final_head(model)
    last = len(model.blocks) - 1
    w_out = model.blocks[last].mlp.W_out.detach().float().to(head.W_U.device)
    before, after, effects, doc_ids, positions = [], [], [], [], []
    effect_sum = torch.zeros(w_out.shape[0], dtype=torch.float64)
    for index, batch in enumerate(progress(batches, total=len(batches), description="sharpening")):
        ids = batch.ids.to(head.W_U.device)
        captured = run_captured(model, ids, resid=[-2, -1], mlp_post=[last])
        x_in, x_out, post = captured.resid[-2], captured.resid[-1], captured.mlp_post[last]
        assert x_in is not None and x_out is not None and post is not None
        mask = batch.mask.to(ids.device)
        if index == 0:
            check_head(head, x_out, captured.logits, mask)
        keep = prediction_positions(mask, include_bos=include_bos)
        if not keep.any():
            continue
        before.append(entropy_bits(head.logits(x_in[keep])).cpu())
        after.append(entropy_bits(head.logits(x_out[keep])).cpu())
        delta = neuron_entropy_effects(head, x_out[keep], post[keep], w_out, method=method)
        effect_sum += delta.double().sum(0).cpu()
        effects.append(len(delta))
        rows, cols = keep.nonzero(as_tuple=True)
        doc_ids += [batch.doc_ids[int(r)] for r in rows]
        positions.append(cols.cpu())
    n = sum(effects)
    if n == 0:
        raise ConfigError(
            "the tokens hold no prediction position (every document is shorter than 3 tokens, "
            "or 2 without include_bos); use longer documents."
        )
    return SharpeningResult(
        entropy_before_bits=torch.cat(before).numpy(),
        entropy_after_bits=torch.cat(after).numpy(),
        neuron_effect_bits=(effect_sum / n).numpy(),
        method=method,
        layer=last,
        doc_ids=tuple(doc_ids),
        positions=torch.cat(positions).numpy(),
    )
