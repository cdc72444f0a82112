"""Detokenization: how much attention stays local, per layer and per head (stage 1).

Legend: L executed blocks (``len(model.blocks)``), H heads, A[l, h, q, j] the attention weight
of query position q on key position j in executed block l. Position 0 of every row is BOS;
right-padding is excluded everywhere by the batch mask (a real query never sees a later pad).

- **Attention locality** (reference §8.1, ``attention_prev5.ipynb``): per document and layer, the
  mean of A[l, h, q, q − i] over all heads h, offsets i = 1..k and real queries q with a valid
  key q − i (q − i ≥ 0 with ``include_bos``, q − i ≥ 1 without: BOS is then never a key). Per
  layer: mean over documents and its standard error (std with ddof 1 / √n_docs). Documents with
  no valid entry (too short) are left out and not counted. The notebook's comment says BOS is
  excluded while its code keeps it; here it is the ``include_bos`` flag.
- **Previous-token score** [L, H]: mean of A[l, h, q, q − 1] pooled over every real query q ≥ 1
  (q ≥ 2 without ``include_bos``), all documents.
- **Subjoiner score** [L, H]: see :func:`subjoiner_scores` and :func:`word_starts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError
from interplab.robustness.stages._capture import as_batches, check_model, run_captured
from interplab.robustness.tokens import TokenBatch, TokenSet

__all__ = [
    "DetokenizationResult",
    "LocalityResult",
    "SubjoinerScores",
    "attention_locality",
    "detokenization_scores",
    "previous_token_scores",
    "subjoiner_scores",
    "word_starts",
]


@dataclass(frozen=True)
class LocalityResult:
    """Mean attention to the previous k tokens per executed layer.

    Attributes:
        mean: [L] mean over documents of the per-document layer score.
        sem: [L] standard error over documents (nan with fewer than 2 documents).
        per_doc: [n_docs, L] per-document scores (rows of documents without a valid entry
            are nan and excluded from ``mean``).
        k: offsets 1..k averaged.
        include_bos: whether BOS counted as a key.
        n_docs: documents that entered ``mean``.
    """

    mean: np.ndarray
    sem: np.ndarray
    per_doc: np.ndarray
    k: int
    include_bos: bool
    n_docs: int

    @property
    def relative_depth(self) -> np.ndarray:
        """[L] l / (L − 1) (the paper's x axis; 0 for a one-layer model)."""
        n = len(self.mean)
        return np.arange(n) / max(n - 1, 1)


@dataclass(frozen=True)
class SubjoinerScores:
    """Per-head attention to earlier pieces of the same word, against a boundary baseline.

    Attributes:
        score: [L, H] ``within − baseline``; > 0 means the head puts more mass on the earlier
            pieces of the query's own word than word-initial queries at the same position put
            on the same number of preceding tokens of other words. Exactly 0 for any head whose
            pattern depends on positions only (uniform, previous-token, BOS sink).
        within: [L, H] mean attention mass on the query's earlier same-word tokens.
        baseline: [L, H] the position-matched baseline (see :func:`subjoiner_scores`).
        n_queries: continuation queries that entered the score (those with a baseline query at
            the same offset and position).
        max_offset: longest within-word offset considered.
    """

    score: np.ndarray
    within: np.ndarray
    baseline: np.ndarray
    n_queries: int
    max_offset: int


@dataclass(frozen=True)
class DetokenizationResult:
    """All detokenization statistics from one pass over the tokens.

    Attributes:
        locality: per-layer attention to the previous k tokens.
        previous_token: [L, H] previous-token head scores.
        subjoiner: per-head subjoiner scores.
    """

    locality: LocalityResult
    previous_token: np.ndarray
    subjoiner: SubjoinerScores


def _decode(tokenizer: Any, token: int) -> str:
    try:  # Hugging Face tokenizers would otherwise turn " ." into "."
        return str(tokenizer.decode([token], clean_up_tokenization_spaces=False))
    except TypeError:
        return str(tokenizer.decode([token]))


def _token_texts(tokenizer: Any, ids: torch.Tensor) -> dict[int, str]:
    return {i: _decode(tokenizer, i) for i in sorted({int(i) for i in ids.unique()})}


def word_starts(ids: torch.Tensor, mask: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """Position of the first token of the word each token belongs to.

    Definition: a token at position p ≥ 2 *continues* the word of the token before it iff the
    first character of its decoded string is alphanumeric (``str.isalnum``) and the last
    character of the previous token's decoded string is alphanumeric too. Every other real token
    (one starting with a space, newline or punctuation, one after punctuation, the first token
    after BOS) starts a new word. So ``" alpha"`` starts a word, ``"bet"`` + ``"a"`` is one word,
    ``"foo"`` + ``"("`` + ``"bar"`` is three. Pieces of a multi-byte character that decode to
    the replacement character count as boundaries.

    Args:
        ids: [batch, seq] token ids, BOS at position 0, right-padded.
        mask: [batch, seq] bool, True at real tokens.
        tokenizer: anything with ``decode(list[int]) -> str``.

    Returns:
        int64 [batch, seq]: the word's first position for real tokens at p ≥ 1; -1 at BOS and
        padding.
    """
    texts = _token_texts(tokenizer, ids)
    first = torch.tensor([[texts[int(t)][:1].isalnum() for t in row] for row in ids])
    last = torch.tensor([[texts[int(t)][-1:].isalnum() for t in row] for row in ids])
    b, t = ids.shape
    pos = torch.arange(t).expand(b, t)
    joins = torch.zeros(b, t, dtype=torch.bool)
    joins[:, 2:] = first[:, 2:] & last[:, 1:-1] & mask[:, 2:]
    marker = torch.where(joins, torch.zeros_like(pos), pos)
    starts = torch.cummax(marker, dim=1).values
    starts[~mask] = -1
    starts[:, 0] = -1
    return starts


class _Accumulator:
    """Sums over batches for the three statistics of one model."""

    def __init__(self, n_layers: int, n_heads: int, k: int, include_bos: bool, max_offset: int):
        self.k, self.start, self.max_offset = k, 0 if include_bos else 1, max_offset
        self.doc_scores: list[np.ndarray] = []
        self.prev_sum = torch.zeros(n_layers, n_heads, dtype=torch.float64)
        self.prev_count = 0
        # Subjoiner sums by bucket (offset m, query position q), at [..., m - 1, q]; the q axis
        # grows with the longest batch seen.
        self.cont_sum = torch.zeros(n_layers, n_heads, max_offset, 0, dtype=torch.float64)
        self.cont_count = torch.zeros(max_offset, 0, dtype=torch.float64)
        self.base_sum = torch.zeros_like(self.cont_sum)
        self.base_count = torch.zeros_like(self.cont_count)

    def _grow(self, t: int) -> None:
        extra = t - self.cont_sum.shape[-1]
        if extra > 0:
            self.cont_sum = F.pad(self.cont_sum, (0, extra))
            self.base_sum = F.pad(self.base_sum, (0, extra))
            self.cont_count = F.pad(self.cont_count, (0, extra))
            self.base_count = F.pad(self.base_count, (0, extra))

    def add(
        self, patterns: list[torch.Tensor], mask: torch.Tensor, starts: torch.Tensor | None
    ) -> None:
        """Add one batch: ``patterns`` [L] of [B, H, T, T], ``mask`` [B, T], ``starts`` [B, T]."""
        mask = mask.to(patterns[0].device)
        doc = np.zeros((mask.shape[0], len(patterns)))
        if starts is not None:
            self._grow(mask.shape[1])
        for layer, a in enumerate(patterns):
            doc[:, layer] = self._locality(a, mask)
            self._previous(layer, a, mask)
            if starts is not None:
                self._subjoiner(layer, a, mask, starts.to(a.device))
        self.doc_scores.append(doc)

    def _valid(self, mask: torch.Tensor, i: int) -> torch.Tensor:
        """[B, T − i] real queries q = i.. whose key q − i is allowed."""
        keys = torch.arange(mask.shape[1] - i, device=mask.device)
        return mask[:, i:] & (keys >= self.start)

    def _locality(self, a: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        heads = a.shape[1]
        total = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device)
        count = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device)
        for i in range(1, min(self.k, a.shape[-1] - 1) + 1):
            diag = a.diagonal(offset=-i, dim1=-2, dim2=-1)  # [B, H, T − i], query q = i + index
            valid = self._valid(mask, i)
            total += (diag.sum(1) * valid).sum(-1).double()
            count += valid.sum(-1).double() * heads
        return (total / count).cpu().numpy()  # 0 / 0 = nan: no valid entry in this document

    def _previous(self, layer: int, a: torch.Tensor, mask: torch.Tensor) -> None:
        if a.shape[-1] < 2:
            return
        diag, valid = a.diagonal(offset=-1, dim1=-2, dim2=-1), self._valid(mask, 1)
        self.prev_sum[layer] += (diag * valid[:, None]).sum((0, 2)).double().cpu()
        if layer == 0:
            self.prev_count += int(valid.sum())

    def _subjoiner(
        self, layer: int, a: torch.Tensor, mask: torch.Tensor, starts: torch.Tensor
    ) -> None:
        b, h, t, _ = a.shape
        big_m = self.max_offset
        # mass[b, h, q, m - 1] = sum_{i=1..m} A[b, h, q, q - i] (0 where q - i < 0)
        diags = [
            F.pad(a.diagonal(offset=-i, dim1=-2, dim2=-1), (i, 0))
            if i < t
            else a.new_zeros(b, h, t)
            for i in range(1, big_m + 1)
        ]
        mass = torch.stack(diags, dim=-1).cumsum(-1)  # [B, H, T, M]
        pos = torch.arange(t, device=a.device).expand(b, t)
        offset = pos - starts  # earlier tokens of the same word
        real = mask & (pos >= 1) & (starts >= 0)
        width = self.cont_sum.shape[-1]  # flat bucket index (m - 1) * width + q
        cont = real & (offset >= 1) & (offset <= big_m)
        if cont.any():
            m = offset[cont]  # [N]
            values = mass.permute(1, 0, 2, 3)[:, cont]  # [H, N, M]
            picked = values.gather(-1, (m - 1)[None, :, None].expand(h, -1, 1)).squeeze(-1)
            bucket = ((m - 1) * width + pos[cont]).cpu()
            self.cont_sum[layer].view(h, -1).index_add_(1, bucket, picked.double().cpu())
            if layer == 0:
                ones = torch.ones(len(bucket), dtype=torch.float64)
                self.cont_count.view(-1).index_add_(0, bucket, ones)
        initial = real & (offset == 0)
        if initial.any():
            q = pos[initial]  # [N]
            ms = torch.arange(1, big_m + 1, device=a.device)
            ok = (q[:, None] - ms[None, :]) >= 1  # keys before the word, never BOS: [N, M]
            bucket = ((ms[None, :] - 1) * width + q[:, None])[ok].cpu()  # [K]
            values = mass.permute(1, 0, 2, 3)[:, initial][:, ok]  # [H, K]
            self.base_sum[layer].view(h, -1).index_add_(1, bucket, values.double().cpu())
            if layer == 0:
                ones = torch.ones(len(bucket), dtype=torch.float64)
                self.base_count.view(-1).index_add_(0, bucket, ones)

    def locality(self, include_bos: bool) -> LocalityResult:
        per_doc = np.concatenate(self.doc_scores, axis=0)
        good = ~np.isnan(per_doc).any(axis=1)
        kept = per_doc[good]
        n = int(good.sum())
        mean = kept.mean(axis=0) if n else np.full(per_doc.shape[1], np.nan)
        sem = kept.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(per_doc.shape[1], np.nan)
        return LocalityResult(mean, sem, per_doc, self.k, include_bos, n)

    def previous_token(self) -> np.ndarray:
        if not self.prev_count:
            return np.full(tuple(self.prev_sum.shape), np.nan)
        return (self.prev_sum / self.prev_count).numpy()

    def subjoiner(self) -> SubjoinerScores:
        usable = (self.cont_count > 0) & (self.base_count > 0)  # [M, T] buckets (m, q)
        weights = torch.where(usable, self.cont_count, torch.zeros_like(self.cont_count))
        n = float(weights.sum())
        if n == 0:
            nan = np.full(tuple(self.cont_sum.shape[:2]), np.nan)
            return SubjoinerScores(nan, nan, nan, 0, self.max_offset)
        base_mean = self.base_sum / self.base_count.clamp(min=1)
        within = (self.cont_sum * usable).sum((-2, -1)) / n
        baseline = (base_mean * weights).sum((-2, -1)) / n
        return SubjoinerScores(
            (within - baseline).numpy(),
            within.numpy(),
            baseline.numpy(),
            int(n),
            self.max_offset,
        )


def _check_args(k: int, max_offset: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k={k!r} must be an integer >= 1 (the paper uses k=5).")
    if not isinstance(max_offset, int) or max_offset < 1:
        raise ConfigError(f"max_offset={max_offset!r} must be an integer >= 1 (e.g. 8).")


def detokenization_scores(
    model: Any,
    tokens: TokenSet | TokenBatch,
    *,
    k: int = 5,
    include_bos: bool = False,
    max_offset: int = 8,
    tokenizer: Any = None,
    progress: Progress = no_progress,
) -> DetokenizationResult:
    """Attention locality, previous-token and subjoiner scores in one pass over ``tokens``.

    Args:
        model: a TransformerBridge; blocks are read in execution order (interventions that
            delete, swap or repeat blocks are fine; L is then ``len(model.blocks)``).
        tokens: right-padded batches (BOS at position 0).
        k: offsets 1..k for attention locality (paper: 5).
        include_bos: whether BOS may be a key (locality, previous-token; see module docstring).
        max_offset: longest within-word offset for the subjoiner score.
        tokenizer: decodes token ids for word boundaries; default ``model.tokenizer``.
        progress: ``progress(iterable, total=..., description=...)``.
    """
    return _run(model, tokens, k, include_bos, max_offset, tokenizer, progress, subjoiner=True)


def _run(
    model: Any,
    tokens: Any,
    k: int,
    include_bos: bool,
    max_offset: int,
    tokenizer: Any,
    progress: Progress,
    *,
    subjoiner: bool,
) -> DetokenizationResult:
    check_model(model)
    _check_args(k, max_offset)
    batches = as_batches(tokens, model)
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if subjoiner and tokenizer is None:
        raise ConfigError("subjoiner scores need a tokenizer: pass tokenizer=... explicitly.")
    n_layers, n_heads = len(model.blocks), int(model.cfg.n_heads)
    acc = _Accumulator(n_layers, n_heads, k, include_bos, max_offset)
    device = next(model.parameters()).device
    for batch in progress(batches, total=len(batches), description="attention patterns"):
        captured = run_captured(model, batch.ids.to(device), patterns=True)
        patterns = [p for p in captured.patterns if p is not None]
        starts = word_starts(batch.ids, batch.mask, tokenizer) if subjoiner else None
        acc.add(patterns, batch.mask, starts)
    sub = (
        acc.subjoiner()
        if subjoiner
        else SubjoinerScores(np.empty((0, 0)), np.empty((0, 0)), np.empty((0, 0)), 0, max_offset)
    )
    return DetokenizationResult(acc.locality(include_bos), acc.previous_token(), sub)


def attention_locality(
    model: Any,
    tokens: TokenSet | TokenBatch,
    *,
    k: int = 5,
    include_bos: bool = False,
    progress: Progress = no_progress,
) -> LocalityResult:
    """Per-layer mean attention to the previous ``k`` tokens (reference §8.1, with pad masking).

    See the module docstring for the exact average. Returns a :class:`LocalityResult` with
    ``mean``/``sem`` of shape [L].
    """
    return _run(model, tokens, k, include_bos, 1, None, progress, subjoiner=False).locality


def previous_token_scores(
    model: Any,
    tokens: TokenSet | TokenBatch,
    *,
    include_bos: bool = False,
    progress: Progress = no_progress,
) -> np.ndarray:
    """[L, H] mean attention of each head from every real query to the token just before it."""
    return _run(model, tokens, 1, include_bos, 1, None, progress, subjoiner=False).previous_token


def subjoiner_scores(
    model: Any,
    tokens: TokenSet | TokenBatch,
    *,
    max_offset: int = 8,
    tokenizer: Any = None,
    progress: Progress = no_progress,
) -> SubjoinerScores:
    """Per-head preference for the earlier pieces of the query's own multi-token word.

    Words follow :func:`word_starts`. A *continuation query* is a real token at position q and
    within-word offset m = q − s ≥ 1 (s its word's first position, m ≤ ``max_offset``); its
    value is the head's attention mass on the word's m earlier tokens,
    w = Σ_{i=1..m} A[q, q − i]. A *baseline query* for the bucket (m, q) is a word-initial
    token (offset 0) at the **same position q** in any document with q − m ≥ 1; its value is
    the same sum, b = Σ_{i=1..m} A[q, q − i]: the same m keys, across a word boundary. BOS is
    never among the keys (s ≥ 1 and q − m ≥ 1). With C(m, q) the continuation queries and
    b̄(m, q) the mean baseline value of a bucket, over the *usable* buckets (both non-empty),
    N = Σ |C(m, q)| and per head::

        within   = (1/N) Σ_{(m,q)} Σ_{c ∈ C(m,q)} w_c
        baseline = (1/N) Σ_{(m,q)} |C(m, q)| · b̄(m, q)
        score    = within − baseline = (1/N) Σ_c (w_c − b̄(m_c, q_c))      (in [-1, 1])

    Matching on q as well as m makes the score **exactly 0 for every head whose pattern
    depends on positions only** (A[q, j] the same in every document): uniform causal attention
    (w = b = m/(q + 1)), a previous-token head (w = b = 1), a BOS sink (w = b = 0), any fixed
    local window. So > 0 means the head attends to the word's earlier pieces more than their
    positions explain; a head that joins word pieces scores > 0. Buckets without a baseline
    query are left out (n_queries counts the rest); with many documents nearly every bucket is
    usable. Cost: float64 sums of shape [L, H, max_offset, T] (T the longest row) on the CPU.

    Reference (§8.2): the paper has no per-head score; it compares the mean patterns of
    prompts ending in a single-token vs a four-token word, aligned at the last query (so at
    comparable positions) and picks heads by eye. This function is our automated per-head
    reading over all continuation pieces of a corpus. An earlier version matched the baseline
    on m only, pooling positions: continuation and word-initial queries sit at different q, so
    even uniform attention scored ≠ 0 (e.g. +0.03 on every head of a GPT-2 with zeroed
    queries and keys); scores from that version are not comparable with these.
    Patterns come from the executed blocks (L = ``len(model.blocks)``).
    """
    return _run(model, tokens, 1, False, max_offset, tokenizer, progress, subjoiner=True).subjoiner
