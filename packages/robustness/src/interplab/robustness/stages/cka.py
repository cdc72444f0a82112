"""Layer-by-layer CKA of the residual stream with the unbiased HSIC (reference §8.7).

Legend: L executed blocks; entries i = 0..L of the residual stream (0 = embeddings entering the
first block, i = l + 1 = output of executed block l, i.e. ``resid_post`` of l); per document n
real tokens (BOS left out unless ``include_bos``), X_i [n, d_model].

Per document and entry: the linear-kernel Gram matrix K_i = X_i X_iᵀ with its diagonal set to 0
(written K̃). The unbiased HSIC (Song et al. 2012; Nguyen, Raghu & Kornblith 2020, eq. 3)::

    HSIC₁(K, L) = [ tr(K̃ L̃) + (1ᵀK̃1)(1ᵀL̃1) / ((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1 ] / (n (n−3))

needs n ≥ 4 (shorter documents are skipped). HSIC is summed over documents, then::

    CKA(i, j) = ΣHSIC₁(K_i, K_j) / sqrt(ΣHSIC₁(K_i, K_i) · ΣHSIC₁(K_j, K_j))

The result is an (L + 1) × (L + 1) matrix, embeddings included as entry 0. CKA with a linear
kernel is invariant to orthogonal transforms and isotropic scaling of either representation;
computed in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError, ShapeError
from interplab.robustness.stages._capture import as_batches, check_model, run_captured
from interplab.robustness.tokens import TokenBatch, TokenSet

__all__ = ["CKAResult", "HSICAccumulator", "linear_cka", "residual_cka", "unbiased_hsic_matrix"]


def unbiased_hsic_matrix(features: torch.Tensor) -> torch.Tensor:
    """[E, E] unbiased HSIC between the linear kernels of E representations of n items.

    Args:
        features: [E, n, d] (float64 recommended), n ≥ 4.
    """
    if features.ndim != 3:
        raise ShapeError(f"features must be [entries, n, d]; got shape {tuple(features.shape)}.")
    n = features.shape[1]
    if n < 4:
        raise ShapeError(f"unbiased HSIC needs n >= 4 items; got n={n}.")
    gram = features @ features.transpose(1, 2)  # [E, n, n]
    gram = gram - torch.diag_embed(torch.diagonal(gram, dim1=1, dim2=2))
    trace = torch.einsum("inm,jnm->ij", gram, gram)  # tr(K̃_i K̃_j), K̃ symmetric
    row = gram.sum(-1)  # [E, n] K̃ 1
    total = row.sum(-1)  # [E] 1ᵀ K̃ 1
    cross = row @ row.T  # 1ᵀ K̃_i K̃_j 1
    return (trace + torch.outer(total, total) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * cross) / (
        n * (n - 3)
    )


class HSICAccumulator:
    """Sums unbiased HSIC matrices over documents and turns them into CKA."""

    def __init__(self, n_entries: int) -> None:
        self.total = torch.zeros(n_entries, n_entries, dtype=torch.float64)
        self.n_docs = 0
        self.n_skipped = 0

    def add(self, features: torch.Tensor) -> None:
        """Add one document's [E, n, d] representations (skipped when n < 4)."""
        if features.shape[1] < 4:
            self.n_skipped += 1
            return
        self.total += unbiased_hsic_matrix(features.double()).cpu()
        self.n_docs += 1

    def cka(self) -> np.ndarray:
        """[E, E] CKA from the summed HSIC (nan where a self-HSIC is not positive)."""
        diag = torch.diagonal(self.total).clamp(min=0).sqrt()
        denom = torch.outer(diag, diag)
        out = torch.where(denom > 0, self.total / denom, torch.full_like(denom, float("nan")))
        return out.numpy()


def linear_cka(representations: Sequence[Sequence[torch.Tensor]]) -> np.ndarray:
    """[E, E] CKA of E representations given per document.

    Args:
        representations: per document, a sequence of E tensors [n_doc, d_e] (d_e may differ
            between entries; n_doc is shared within a document).
    """
    if not representations:
        raise ConfigError("representations is empty: pass at least one document.")
    acc = HSICAccumulator(len(representations[0]))
    for doc in representations:
        # per-entry Grams are what matters; pad features to one width with zero columns
        width = max(int(x.shape[1]) for x in doc)
        padded = [torch.nn.functional.pad(x.double(), (0, width - int(x.shape[1]))) for x in doc]
        acc.add(torch.stack(padded))
    return acc.cka()


@dataclass(frozen=True)
class CKAResult:
    """Residual-stream CKA.

    Attributes:
        matrix: [L + 1, L + 1] CKA between residual entries (symmetric, 1 on the diagonal).
        labels: ``("embed", "L0", …, "L{L-1}")``.
        n_docs: documents used (n ≥ 4 tokens).
        n_skipped: documents too short to use.
        include_bos: whether the BOS token was one of the n items.
    """

    matrix: np.ndarray
    labels: tuple[str, ...]
    n_docs: int
    n_skipped: int
    include_bos: bool

    @property
    def relative_depth(self) -> np.ndarray:
        """[L + 1] i / L."""
        n = self.matrix.shape[0] - 1
        return np.arange(n + 1) / max(n, 1)


def residual_cka(
    model: Any,
    tokens: TokenSet | TokenBatch,
    *,
    include_bos: bool = False,
    progress: Progress = no_progress,
) -> CKAResult:
    """CKA between every pair of residual-stream entries over the documents of ``tokens``.

    Args:
        model: a TransformerBridge; entries are read in execution order (L = len(model.blocks)).
        tokens: right-padded batches, one document per row; pad positions are never items.
        include_bos: count the BOS token as an item (its large norm can dominate the Grams).
        progress: ``progress(iterable, total=..., description=...)``.
    """
    check_model(model)
    batches = as_batches(tokens, model)
    n = len(model.blocks) + 1
    acc = HSICAccumulator(n)
    device = next(model.parameters()).device
    for batch in progress(batches, total=len(batches), description="residual CKA"):
        captured = run_captured(model, batch.ids.to(device), resid=True)
        stack = torch.stack([r for r in captured.resid if r is not None])  # [E, B, T, d]
        for row in range(len(batch)):
            keep = batch.mask[row].clone()
            if not include_bos:
                keep[0] = False
            acc.add(stack[:, row, keep.to(stack.device)])
    if acc.n_docs == 0:
        raise ConfigError(
            f"all {acc.n_skipped} documents have fewer than 4 usable tokens; the unbiased HSIC "
            "needs n >= 4 per document: use longer documents."
        )
    return CKAResult(
        matrix=acc.cka(),
        labels=("embed", *(f"L{i}" for i in range(n - 1))),
        n_docs=acc.n_docs,
        n_skipped=acc.n_skipped,
        include_bos=include_bos,
    )
