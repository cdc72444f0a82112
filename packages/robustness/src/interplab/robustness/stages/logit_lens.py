"""Logit lens per layer with the normalisation as an explicit choice (reference §8.3).

Legend: L executed blocks, residual entries i = 0..L (0 = embeddings entering the first block,
i = l + 1 the output of executed block l), N prediction positions, V vocabulary.

Entry i is decoded with the model's own final norm and unembedding (:mod:`._head`):

- ``recompute`` (faithful lens, TransformerLens ≥ 2.18 and 4.x): ``unembed(ln_final(x_i))``,
  the norm's scale recomputed from ``x_i``.
- ``cached_final_scale`` (paper parity; TransformerLens ≤ 2.17
  ``accumulated_resid(apply_ln=True)``): ``x_i`` centred, then divided by the scale ``ln_final``
  computed for the *final* residual at that position (``ln_final.hook_scale``). Early residuals
  have small norms, so their logits shrink and their entropy rises.

Both are computed on the caller's model without changing it: TransformerLens needs weight
processing (``enable_compatibility_mode()``) for the cached-scale lens to be faithful because it
drops the final norm's γ and β, which processing folds into ``W_U`` / ``b_U``; here γ and β are
applied explicitly, which gives the processed model's log-probabilities exactly (``add_bias=True``:
with ``b_U``; ``add_bias=False``: without ``b_U`` and without β, as the paper's notebook did after
folding). The last entry of either mode with ``add_bias=True`` equals the model's logits.

Statistics per entry, averaged over the N prediction positions of all documents (positions whose
next token is real; the BOS position only with ``include_bos``): entropy in bits; KL(final ‖
entry) in nats where *final* is the model's output distribution; rank of the final top-1 token
under the entry's logits (1 = top; ties do not count against it); top-1 agreement with final.
"""

from __future__ import annotations

import math
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
from interplab.robustness.stages._head import check_head, final_head
from interplab.robustness.tokens import TokenBatch, TokenSet

__all__ = ["LENS_MODES", "LensMode", "LensResult", "logit_lens"]

LensMode = Literal["recompute", "cached_final_scale"]
LENS_MODES: tuple[str, ...] = ("recompute", "cached_final_scale")
_CHUNK = 1 << 22  # positions × vocabulary per chunk


@dataclass(frozen=True)
class LensResult:
    """Logit-lens trajectories over the L + 1 residual entries.

    Attributes:
        mode: ``recompute`` or ``cached_final_scale``.
        add_bias: whether β and ``b_U`` were added.
        include_bos: whether the BOS position was a prediction position.
        labels: ``("embed", "L0", …, "L{L-1}")``.
        entropy_bits: [L + 1] mean entropy (bits).
        entropy_std_bits: [L + 1] std of the entropy over positions (bits).
        entropy_doc_std_bits: [L + 1] std over documents of each document's mean entropy (bits;
            the paper's band; NaN with fewer than 2 documents).
        kl_nats: [L + 1] mean KL(final ‖ entry) (nats).
        rank: [L + 1] mean rank of the final top-1 token (1 = top).
        top1_agreement: [L + 1] fraction of positions whose top-1 equals the final top-1.
        final_entropy_bits: mean entropy of the model's own output distribution (bits).
        n_positions: N.
    """

    mode: str
    add_bias: bool
    include_bos: bool
    labels: tuple[str, ...]
    entropy_bits: np.ndarray
    entropy_std_bits: np.ndarray
    entropy_doc_std_bits: np.ndarray
    kl_nats: np.ndarray
    rank: np.ndarray
    top1_agreement: np.ndarray
    final_entropy_bits: float
    n_positions: int

    @property
    def relative_depth(self) -> np.ndarray:
        """[L + 1] i / L (the paper's x axis; 0 = embeddings, 1 = last block's output)."""
        n = len(self.entropy_bits) - 1
        return np.arange(n + 1) / max(n, 1)


class _Sums:
    def __init__(self, n: int, n_docs: int) -> None:
        self.doc_h = np.zeros((n, n_docs))  # entropy summed per document
        self.doc_count = np.zeros(n_docs)
        self.h = np.zeros(n)
        self.h2 = np.zeros(n)
        self.kl = np.zeros(n)
        self.rank = np.zeros(n)
        self.agree = np.zeros(n)
        self.final_h = 0.0
        self.count = 0


def _stats(
    logits: torch.Tensor, final_logp: torch.Tensor, top1: torch.Tensor
) -> tuple[torch.Tensor, float, float, float, float]:
    """Entropy (bits) per row [N], and sums over rows of entropy², KL, rank and agreement.

    KL is KL(final ‖ logits); rank is that of the final top-1 token (1 = top).
    """
    logp = torch.log_softmax(logits, dim=-1)
    h = -(logp.exp() * logp).sum(-1) / math.log(2.0)
    kl = (final_logp.exp() * (final_logp - logp)).sum(-1)
    target = logits.gather(-1, top1[:, None])
    rank = 1 + (logits > target).sum(-1)
    agree = logits.argmax(-1) == top1
    return (
        h,
        float((h * h).sum()),
        float(kl.sum()),
        float(rank.sum()),
        float(agree.sum()),
    )


def _std_over_documents(doc_h: np.ndarray, doc_count: np.ndarray) -> np.ndarray:
    """[L + 1] sample std (ddof 1) of the per-document mean entropies; NaN below 2 documents."""
    present = doc_count > 0
    if present.sum() < 2:
        return np.full(len(doc_h), np.nan)
    means = doc_h[:, present] / doc_count[present]
    return np.asarray(means.std(axis=1, ddof=1))


def _check(mode: str, add_bias: Any) -> None:
    if mode not in LENS_MODES:
        raise ConfigError(
            f"mode={mode!r} is not a logit-lens normalisation; use 'recompute' (ln_final per "
            "layer, TransformerLens >= 2.18) or 'cached_final_scale' (the paper's TL 1.18 lens)."
        )
    if not isinstance(add_bias, bool):
        raise ConfigError(
            f"add_bias={add_bias!r} must be True or False: whether to add b_U (and the final "
            "norm's β); the paper's notebook used False."
        )


def logit_lens(
    model: Any,
    tokens: TokenSet | TokenBatch,
    *,
    mode: LensMode = "recompute",
    add_bias: bool,
    include_bos: bool = False,
    progress: Progress = no_progress,
) -> LensResult:
    """Entropy, KL to the final distribution, rank and agreement at every residual entry.

    Args:
        model: a TransformerBridge (raw or processed; blocks read in execution order, so
            deleted, swapped or repeated blocks are fine: L = ``len(model.blocks)``).
        tokens: right-padded batches with BOS at position 0.
        mode: ``recompute`` or ``cached_final_scale`` (module docstring).
        add_bias: add β and ``b_U`` (an explicit choice; the paper dropped them).
        include_bos: also use the prediction made at the BOS position.
        progress: ``progress(iterable, total=..., description=...)``.

    Returns:
        a :class:`LensResult` whose arrays have L + 1 entries and which records ``mode`` and
        ``add_bias``.
    """
    _check(mode, add_bias)
    check_model(model)
    batches = as_batches(tokens, model)
    head = final_head(model)
    n = len(model.blocks) + 1
    sums = _Sums(n, sum(len(batch.ids) for batch in batches))
    first_doc = 0
    device = head.W_U.device
    for index, batch in enumerate(progress(batches, total=len(batches), description="logit lens")):
        captured = run_captured(model, batch.ids.to(device), resid=True)
        resid = [r for r in captured.resid if r is not None]
        mask = batch.mask.to(device)
        if index == 0:
            check_head(head, resid[-1], captured.logits, mask)
        keep = prediction_positions(mask, include_bos=include_bos)
        rows = int(keep.sum())
        doc_of = (keep.nonzero()[:, 0] + first_doc).cpu().numpy()  # [rows] document of each
        first_doc += len(batch.ids)
        if rows == 0:
            continue
        sums.doc_count += np.bincount(doc_of, minlength=len(sums.doc_count))
        step = max(1, _CHUNK // int(head.W_U.shape[1]))
        for start in range(0, rows, step):
            part = slice(start, start + step)
            final = captured.logits[keep][part]
            final_logp = torch.log_softmax(final, dim=-1)
            top1 = final.argmax(-1)
            sums.final_h += float(-(final_logp.exp() * final_logp).sum() / math.log(2.0))
            scale = head.scale(resid[-1][keep][part]) if mode == "cached_final_scale" else None
            for i, x in enumerate(resid):
                z = head.logits(x[keep][part], scale=scale, add_bias=add_bias)
                h, h2, kl, rank, agree = _stats(z, final_logp, top1)
                per_row = h.double().cpu().numpy()
                sums.doc_h[i] += np.bincount(
                    doc_of[part], weights=per_row, minlength=len(sums.doc_count)
                )
                sums.h[i] += float(per_row.sum())
                sums.h2[i] += h2
                sums.kl[i] += kl
                sums.rank[i] += rank
                sums.agree[i] += agree
        sums.count += rows
    if sums.count == 0:
        raise ConfigError(
            "the tokens hold no prediction position (every document is shorter than 3 tokens, "
            "or 2 without include_bos); use longer documents."
        )
    c = sums.count
    mean_h = sums.h / c
    return LensResult(
        mode=mode,
        add_bias=add_bias,
        include_bos=include_bos,
        labels=("embed", *(f"L{i}" for i in range(n - 1))),
        entropy_bits=mean_h,
        entropy_std_bits=np.sqrt(np.maximum(sums.h2 / c - mean_h**2, 0.0)),
        entropy_doc_std_bits=_std_over_documents(sums.doc_h, sums.doc_count),
        kl_nats=sums.kl / c,
        rank=sums.rank / c,
        top1_agreement=sums.agree / c,
        final_entropy_bits=sums.final_h / c,
        n_positions=c,
    )
