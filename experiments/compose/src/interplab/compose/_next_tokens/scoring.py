"""A language model's next-token distribution as seglabels ``pred_probs``, and the scores.

Legend: N documents, L tokens per row (BOS first, right-padded), T = L − 1 prediction positions,
V the model's vocabulary. Each document is a 1×T "image": the "label" of position t is the true
next token ``ids[t + 1]`` (:data:`IGNORE` where that is padding) and its "pred_probs" are the
model's p(· | ids[:t + 1]), so a position's self-confidence is the probability the model gave
to the token that actually came next.

The dense (N, V, 1, T) array is never built: :class:`NextTokenProbs` computes the rows it is
sliced for, so seglabels reads it batch by batch (memory: one batch of float32 probabilities).

Confident Learning (``num_pixel_issues``) with V in the thousands: seglabels' implementation
keeps per-class sums (V floats) and only the positions whose argmax disagrees with the label,
never the dense array, so it stays exact; each of its passes (a scan, sometimes a second one
to resolve ties, rarely more) runs the model over the corpus again. The class thresholds are
cleanlab's, unchanged: t_k is the mean p(k) over positions whose next token is k, so a token
seen as a label only a few times has a noisy threshold, and one never seen as a label has the
floor 2e-6 (any position predicting it counts towards the number of issues).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError

__all__ = ["IGNORE", "NextTokenProbs", "next_token_labels", "score_documents"]

IGNORE = -1
"""Label of prediction positions whose next token is padding (seglabels' ``ignore_index``)."""


def next_token_labels(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """int64 (N, 1, T): the true next token of each position, :data:`IGNORE` past the end.

    Args:
        ids: int (N, L) token ids, BOS first, right-padded.
        mask: bool (N, L), True at real tokens.
    """
    labels = np.where(mask[:, 1:], ids[:, 1:], IGNORE).astype(np.int64)
    return labels[:, None, :]


class NextTokenProbs:
    """float32 (N, V, 1, T) next-token probabilities of ``model``, computed when sliced.

    Behaves like a read-only array for seglabels (``shape``, ``dtype``, ``ndim``, slicing along
    the documents): ``probs[a:b]`` runs the model on documents ``a:b`` in its current state (so
    inside ``intervene(...)`` it is the intervened model) and returns a float32 numpy array
    (b − a, V, 1, T), a softmax in float32 of the float32 logits. The same slice gives the same
    numbers on every read (a deterministic device), which seglabels' multi-pass Confident
    Learning relies on.

    Args:
        model: a causal LM (TransformerBridge, Hugging Face model) returning (B, L, V) logits.
        ids: int (N, L) token ids, BOS first, right-padded (causal: padding is never attended
            to by real positions).
        vocab_size: V, the size of the model's output layer.
    """

    dtype = np.dtype(np.float32)
    ndim = 4

    def __init__(self, model: Any, ids: np.ndarray, *, vocab_size: int) -> None:
        if ids.ndim != 2 or ids.shape[1] < 2:
            raise ConfigError(f"ids must be (N, L) with L >= 2; got shape {ids.shape}.")
        self._model = model
        self._ids = ids
        self.shape = (int(ids.shape[0]), int(vocab_size), 1, int(ids.shape[1]) - 1)
        self.rows_computed = 0
        """Documents run through the model so far (counts every pass over the data)."""

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from interplab.robustness.interventions import logits
        from interplab.robustness.interventions.context import model_device

        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError(
                f"NextTokenProbs supports contiguous slices of documents only, got {index!r}."
            )
        rows = self._ids[index]
        with torch.no_grad():
            ids = torch.from_numpy(np.ascontiguousarray(rows)).to(model_device(self._model))
            out = logits(self._model, ids)[:, :-1].float()
            if out.shape[-1] != self.shape[1]:
                raise ConfigError(
                    f"the model returned {out.shape[-1]} logits per position, but vocab_size="
                    f"{self.shape[1]} was given; pass the model's output size."
                )
            probs = F.softmax(out, dim=-1).transpose(1, 2).unsqueeze(2)
            result = np.ascontiguousarray(probs.cpu().numpy())
        self.rows_computed += len(rows)
        return result


def score_documents(
    probs: NextTokenProbs,
    labels: np.ndarray,
    methods: Sequence[str],
    *,
    batch_size: int,
    progress: Progress = no_progress,
    description: str = "scoring documents",
) -> dict[str, np.ndarray]:
    """Every seglabels image score of every document, plus its mean negative log-likelihood.

    The registered image scores (softmin, mean, …) aggregate each document's self-confidence
    scores on their own, so they are computed batch by batch, one model pass for all of them
    (seglabels' :func:`~interplab.seglabels.scores.image_scores` on each batch).
    ``num_pixel_issues`` needs per-token thresholds from the whole corpus (Confident Learning),
    so it is seglabels' :func:`~interplab.seglabels.issues.num_pixel_issues_scores` on the lazy
    ``probs``: it streams over the corpus in batches of ``batch_size`` documents (a few passes,
    each running the model again) and never holds more than one batch of probabilities.

    Args:
        probs: (N, V, 1, T) next-token probabilities.
        labels: int64 (N, 1, T) from :func:`next_token_labels`.
        methods: seglabels image-score names (their default parameters).
        batch_size: documents per batch.
        progress: progress bar over the batches of the first pass.
        description: its text.

    Returns:
        ``{method: float64 (N,)}`` (low = the document's tokens are suspect) and ``"nll"``:
        float64 (N,) mean −log p(next token) per document, in nats.
    """
    from interplab.seglabels.issues import num_pixel_issues_scores
    from interplab.seglabels.scores import image_scores, pixel_scores

    n = len(probs)
    local = [m for m in methods if m != "num_pixel_issues"]
    out = {m: np.empty(n) for m in local}
    out["nll"] = np.empty(n)
    starts = range(0, n, batch_size)
    for start in progress(starts, total=len(starts), description=description):
        stop = min(start + batch_size, n)
        p, y = probs[start:stop], labels[start:stop]
        # pixel_scores checks the labels and probabilities; the image scores then skip it
        confidence = pixel_scores(y, p, ignore_index=IGNORE).reshape(stop - start, -1)
        tiny = float(np.finfo(np.float32).tiny)
        out["nll"][start:stop] = np.nanmean(-np.log(np.maximum(confidence, tiny)), axis=1)
        for m in local:
            out[m][start:stop] = image_scores(
                y, p, method=m, ignore_index=IGNORE, check_values=False
            )
    if "num_pixel_issues" in methods:
        out["num_pixel_issues"] = num_pixel_issues_scores(
            labels, probs, ignore_index=IGNORE, batch_size=batch_size
        )
    return out
