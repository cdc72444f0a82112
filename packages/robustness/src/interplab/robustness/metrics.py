"""Per-token metrics of an intervention, all on one position grid (reference §6).

Legend: B sequences, T positions, V vocabulary entries. Prediction position ``pos`` (0..T-2)
predicts token ``pos + 1``; ``targets`` [B, T-1] holds those tokens and ``target_mask`` [B, T-1]
marks the positions whose next token is real. P = softmax(original logits), Q =
softmax(intervened logits) at one position, t the true next token. Everything is computed in
float64 from ``log_softmax``:

| key | formula | unit |
|---|---|---|
| ``kl`` | KL(P‖Q) = Σ_v P_v (ln P_v − ln Q_v) | nats |
| ``loss_orig`` / ``loss_int`` | −ln P_t / −ln Q_t | nats |
| ``loss_delta`` | loss_int − loss_orig: **positive when the intervention hurts** (the reference's
  "Loss Difference" is loss_orig − loss_int, the opposite sign) | nats |
| ``entropy_orig`` / ``entropy_int`` | −Σ_v p_v log₂ p_v | bits |
| ``top1_orig`` / ``top1_int`` | argmax of the logits (first maximum on ties) | token id |
| ``agree`` | top1_orig == top1_int | bool |
| ``correct_orig`` / ``correct_int`` | top1 == t | bool |

Accuracy retained (the paper's headline, best-supported reading) is acc_int / acc_orig with acc
the mean of ``correct``; top-1 agreement is the alternative reading. :func:`summarize` reports
both. The original side is computed once (:class:`Baseline`) and compared with any number of
interventions; rows are processed in chunks so the float64 temporaries stay small for large V.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from interplab.core.errors import ShapeError

if TYPE_CHECKING:
    import pandas as pd

    from interplab.robustness.tokens import TokenBatch

__all__ = [
    "FLOAT_METRICS",
    "Baseline",
    "baseline",
    "compare",
    "summarize",
    "token_frame",
    "token_metrics",
]

FLOAT_METRICS = ("kl", "loss_orig", "loss_int", "loss_delta", "entropy_orig", "entropy_int")
BOOL_METRICS = ("agree", "correct_orig", "correct_int")
ID_METRICS = ("top1_orig", "top1_int")
_LN2 = math.log(2.0)
_CHUNK_ELEMENTS = 1 << 18  # float64 temporaries of 2 MiB: several passes stay in cache
_PROBS_BYTES = 1 << 28  # keep the original probabilities in float64 up to 256 MiB


def _check(logits: torch.Tensor, targets: torch.Tensor, target_mask: torch.Tensor) -> None:
    if logits.ndim != 3:
        raise ShapeError(f"logits must be [batch, seq, vocab], got {tuple(logits.shape)}.")
    b, t, _ = logits.shape
    if targets.shape != (b, t - 1) or target_mask.shape != (b, t - 1):
        raise ShapeError(
            f"targets {tuple(targets.shape)} and target_mask {tuple(target_mask.shape)} must be "
            f"[batch, seq - 1] = {(b, t - 1)} for logits {tuple(logits.shape)}: position pos "
            "predicts token pos + 1 (use TokenBatch.targets / .target_mask)."
        )


def _argmax(x: torch.Tensor) -> torch.Tensor:
    """[n] index of the first maximum of each row of x [n, V].

    On CPU numpy's vectorised argmax: torch's (and ``max(dim)``) is about ten times slower there.
    """
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        return torch.from_numpy(x.detach().numpy().argmax(-1))
    return x.argmax(-1)


def _rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[n] Σ_v a_v b_v of each row of a, b [n, V] (numpy's einsum on CPU: twice torch's speed)."""
    if a.device.type == "cpu" and a.dtype == b.dtype:
        return torch.from_numpy(np.einsum("ij,ij->i", a.detach().numpy(), b.detach().numpy()))
    return torch.linalg.vecdot(a, b)


def _xlogy(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Elementwise p · x, 0 where p = 0 (so 0 · log 0 = 0 and 0 · (-inf) = 0)."""
    return torch.where(p > 0, p * x, torch.zeros((), dtype=p.dtype, device=p.device))


class _Scratch:
    """Buffers reused by every chunk of one pass: rows [n, V] (logits' dtype), xs, e [n, V].

    xs and e are float64. Fresh 2 MiB tensors per chunk cost more than the arithmetic: the
    allocator maps them anew and every page faults on first touch (a float64 copy and ``exp`` of
    a 64 × 4096 chunk: 1.8 ms in fresh tensors, 0.3 ms in reused ones).
    """

    def __init__(self, rows: int, vocab: int, dtype: torch.dtype, device: torch.device) -> None:
        self.rows = torch.empty((rows, vocab), dtype=dtype, device=device)
        self.xs = torch.empty((rows, vocab), dtype=torch.float64, device=device)
        self.e = torch.empty((rows, vocab), dtype=torch.float64, device=device)


@dataclass(frozen=True)
class _Shifted:
    """Statistics of logits rows x [n, V] (float64): xs = x − max, e = exp(xs), s = Σ e."""

    xs: torch.Tensor
    e: torch.Tensor
    s: torch.Tensor
    log_s: torch.Tensor
    shift: torch.Tensor
    top1: torch.Tensor

    @classmethod
    def of(cls, logits: torch.Tensor, scratch: _Scratch | None = None) -> _Shifted:
        """The statistics of ``logits`` [n, V], in ``scratch``'s buffers if given."""
        shift = logits.amax(dim=-1).double()  # the max is exact in any dtype
        if scratch is None:
            xs = logits.double()
            e = torch.empty_like(xs)
        else:
            xs, e = scratch.xs[: len(logits)], scratch.e[: len(logits)]
            xs.copy_(logits)
        xs.sub_(shift[:, None])
        torch.exp(xs, out=e)
        s = e.sum(-1)
        return cls(xs=xs, e=e, s=s, log_s=s.log(), shift=shift, top1=_argmax(logits))

    def probs(self) -> torch.Tensor:
        return self.e / self.s[:, None]

    def dot(self, p: torch.Tensor) -> torch.Tensor:
        """[n] Σ_v p_v xs_v."""
        return _rowdot(p, self.xs)

    def entropy_bits(self) -> torch.Tensor:
        """[n] entropy of softmax(x) in bits: (ln s − Σ e xs / s) / ln 2."""
        return (self.log_s - self.dot(self.e) / self.s) / _LN2

    def target(self, targets: torch.Tensor) -> torch.Tensor:
        """[n] xs at the target tokens."""
        return self.xs.gather(1, targets[:, None]).squeeze(1)


@dataclass(frozen=True)
class Baseline:
    """The original model's side of the metrics, at the N real prediction positions.

    Attributes:
        rows: [N] batch index of each real prediction position.
        positions: [N] its position (it predicts token ``position + 1``).
        logits: [N, V] original logits (model dtype).
        log_norm: [N] float64 log-sum-exp of ``logits``.
        targets: [N] true next tokens.
        top1: [N] argmax of ``logits``.
        loss: [N] float64 −ln P_t (nats).
        entropy: [N] float64 entropy of P (bits).
        self_dot: [N] float64 Σ P (x − max x), so that Σ P ln P = self_dot − log_s.
        log_s: [N] float64 ln Σ exp(x − max x).
        probs: [N, V] float64 P, kept when it fits in ``_PROBS_BYTES``; else None (recomputed).
        shape: (B, T-1), the grid the flat values came from.
    """

    rows: torch.Tensor
    positions: torch.Tensor
    logits: torch.Tensor
    log_norm: torch.Tensor
    targets: torch.Tensor
    top1: torch.Tensor
    loss: torch.Tensor
    entropy: torch.Tensor
    self_dot: torch.Tensor
    log_s: torch.Tensor
    probs: torch.Tensor | None
    shape: tuple[int, int]

    @property
    def correct(self) -> torch.Tensor:
        """[N] bool: the original top-1 is the true next token."""
        return self.top1 == self.targets

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def log_probs(self, part: slice) -> torch.Tensor:
        """[n, V] float64 ln P of the rows ``part``."""
        return self.logits[part].double() - self.log_norm[part, None]

    def p(self, part: slice) -> torch.Tensor:
        """[n, V] float64 P of the rows ``part`` (kept, or recomputed the same way)."""
        if self.probs is not None:
            return self.probs[part]
        return _Shifted.of(self.logits[part]).probs()


def _chunks(n: int, vocab: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(vocab, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _rows(parts: list[slice]) -> int:
    """Rows of the largest chunk."""
    return max((part.stop - part.start for part in parts), default=0)


def baseline(
    logits_orig: torch.Tensor, targets: torch.Tensor, target_mask: torch.Tensor
) -> Baseline:
    """The original side of the metrics at the real positions of ``target_mask``.

    Args:
        logits_orig: [B, T, V] logits of the unmodified model.
        targets: [B, T-1] true next tokens.
        target_mask: [B, T-1] bool, True where the next token is real.
    """
    _check(logits_orig, targets, target_mask)
    mask = target_mask.to(logits_orig.device).bool()
    rows, positions = mask.nonzero(as_tuple=True)
    flat = logits_orig[:, :-1][rows, positions]  # [N, V]
    tgt = targets.to(flat.device)[rows, positions]
    n, vocab = flat.shape
    new = lambda: torch.empty(n, dtype=torch.float64, device=flat.device)  # noqa: E731
    log_norm, loss, entropy, self_dot, log_s = new(), new(), new(), new(), new()
    top1 = torch.empty(n, dtype=torch.long, device=flat.device)
    keep = n * vocab * 8 <= _PROBS_BYTES
    probs = torch.empty((n, vocab), dtype=torch.float64, device=flat.device) if keep else None
    parts = _chunks(n, vocab)
    scratch = _Scratch(_rows(parts), vocab, flat.dtype, flat.device)
    for part in parts:
        stats = _Shifted.of(flat[part], scratch)
        p = stats.probs()
        self_dot[part] = stats.dot(p)
        log_s[part] = stats.log_s
        log_norm[part] = stats.shift + stats.log_s
        loss[part] = stats.log_s - stats.target(tgt[part])
        h = stats.entropy_bits()
        if not bool(torch.isfinite(h).all()):  # ±inf logits: 0 · log 0 = 0 explicitly
            h = -_xlogy(p, stats.xs - stats.log_s[:, None]).sum(-1) / _LN2
        entropy[part] = h
        top1[part] = stats.top1
        if probs is not None:
            probs[part] = p
    return Baseline(
        rows=rows,
        positions=positions,
        logits=flat,
        log_norm=log_norm,
        targets=tgt,
        top1=top1,
        loss=loss,
        entropy=entropy,
        self_dot=self_dot,
        log_s=log_s,
        probs=probs,
        shape=(int(mask.shape[0]), int(mask.shape[1])),
    )


_Values = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _compare_chunk(
    base: Baseline, part: slice, logits_int: torch.Tensor, scratch: _Scratch | None = None
) -> _Values:
    """KL (nats), loss (nats), entropy (bits), top-1 of rows ``part``, few passes over [n, V].

    With xs = x − max x and s = Σ exp(xs) for each side, ln P = xs_P − ln s_P and
    ln Q = xs_Q − ln s_Q, so (Σ P = 1) KL = (Σ P xs_P − ln s_P) − (Σ P xs_Q − ln s_Q),
    H(Q) = ln s_Q − Σ exp(xs_Q) xs_Q / s_Q and loss = ln s_Q − xs_Q[t]. Both sides are
    computed by the same code, so identical logits give exactly KL = 0 and equal entropies and
    losses.
    """
    q = _Shifted.of(logits_int, scratch)
    kl = (base.self_dot[part] - base.log_s[part]) - (q.dot(base.p(part)) - q.log_s)
    entropy = q.entropy_bits()
    loss = q.log_s - q.target(base.targets[part])
    return kl.clamp_min(0.0), loss, entropy, q.top1


def _compare_chunk_safe(base: Baseline, part: slice, logits_int: torch.Tensor) -> _Values:
    """The same by the textbook formulas (used where logits hold ±inf)."""
    log_p = base.log_probs(part)
    log_q = torch.log_softmax(logits_int.double(), dim=-1)
    kl = _xlogy(log_p.exp(), log_p - log_q).sum(-1)
    loss = -log_q.gather(1, base.targets[part, None]).squeeze(1)
    entropy = -_xlogy(log_q.exp(), log_q).sum(-1) / _LN2
    return kl, loss, entropy, logits_int.argmax(-1)


def compare(base: Baseline, logits_int: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every metric of the module docstring at the baseline's N real positions.

    Args:
        base: from :func:`baseline`.
        logits_int: [B, T, V] logits of the intervened model on the same tokens.

    Returns:
        ``{key: [N] tensor}``; floats are float64, ``agree``/``correct_*`` bool, ``top1_*`` long.
    """
    b, t1 = base.shape
    if logits_int.shape[:2] != (b, t1 + 1) or logits_int.shape[-1] != base.logits.shape[-1]:
        raise ShapeError(
            f"intervened logits {tuple(logits_int.shape)} do not match the original "
            f"[{b}, {t1 + 1}, {base.logits.shape[-1]}]."
        )
    vocab = logits_int.shape[-1]
    table = logits_int.reshape(-1, vocab)  # [B·T, V]
    index = base.rows * (t1 + 1) + base.positions  # [N] rows of ``table``
    kl = torch.empty_like(base.loss)
    loss = torch.empty_like(base.loss)
    entropy = torch.empty_like(base.loss)
    top1 = torch.empty_like(base.top1)
    parts = _chunks(len(base), vocab)
    scratch = _Scratch(_rows(parts), vocab, logits_int.dtype, logits_int.device)
    for part in parts:
        rows = scratch.rows[: part.stop - part.start]  # [n, V], gathered while in cache
        torch.index_select(table, 0, index[part], out=rows)
        values = _compare_chunk(base, part, rows, scratch)
        if not all(bool(torch.isfinite(v).all()) for v in values[:3]):
            values = _compare_chunk_safe(base, part, rows)
        kl[part], loss[part], entropy[part], top1[part] = values
    return {
        "kl": kl,
        "loss_orig": base.loss,
        "loss_int": loss,
        "loss_delta": loss - base.loss,
        "entropy_orig": base.entropy,
        "entropy_int": entropy,
        "top1_orig": base.top1,
        "top1_int": top1,
        "agree": top1 == base.top1,
        "correct_orig": base.correct,
        "correct_int": top1 == base.targets,
    }


def _grid(base: Baseline, flat: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, values in flat.items():
        if key in FLOAT_METRICS:
            fill: Any = math.nan
        elif key in ID_METRICS:
            fill = -1
        else:
            fill = False
        grid = torch.full(base.shape, fill, dtype=values.dtype, device=values.device)
        grid[base.rows, base.positions] = values
        out[key] = grid
    return out


def token_metrics(
    logits_orig: torch.Tensor,
    logits_int: torch.Tensor,
    targets: torch.Tensor,
    target_mask: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Per-token metrics of an intervention on the [B, T-1] prediction grid.

    Args:
        logits_orig: [B, T, V] original logits.
        logits_int: [B, T, V] intervened logits on the same tokens.
        targets: [B, T-1] true next tokens (``TokenBatch.targets``).
        target_mask: [B, T-1] bool, True where the next token is real.

    Returns:
        ``{key: [B, T-1] tensor}`` for every key of the module docstring. At masked positions
        floats are NaN, ``top1_*`` are -1 and bools are False.
    """
    base = baseline(logits_orig, targets, target_mask)
    return _grid(base, compare(base, logits_int))


def summarize(
    metrics: dict[str, torch.Tensor], target_mask: torch.Tensor | None = None
) -> dict[str, float]:
    """Means over the real prediction positions, and accuracy retained.

    Args:
        metrics: from :func:`token_metrics` ([B, T-1] each) or :func:`compare` ([N] each).
        target_mask: [B, T-1] bool for grid metrics; None for flat ones (all positions real).

    Returns:
        ``kl``, ``top1_agreement``, ``acc_orig``, ``acc_int``, ``acc_retained`` (=
        acc_int / acc_orig; NaN if acc_orig is 0), ``loss_orig``, ``loss_int``, ``loss_delta``,
        ``entropy_orig``, ``entropy_int`` and ``n_tokens``.

    Raises:
        ShapeError: grid metrics without their ``target_mask`` (the padded positions would
            count), or a mask of another shape.
    """
    grid = metrics["kl"].ndim == 2
    if grid and target_mask is None:
        raise ShapeError(
            f"metrics are on the [B, T-1] grid {tuple(metrics['kl'].shape)} of token_metrics, "
            "whose padded positions must not count; pass the same target_mask: "
            "summarize(metrics, target_mask)."
        )
    if target_mask is not None and tuple(target_mask.shape) != tuple(metrics["kl"].shape):
        raise ShapeError(
            f"target_mask has shape {tuple(target_mask.shape)} but the metrics "
            f"{tuple(metrics['kl'].shape)}; pass the mask given to token_metrics."
        )

    def pick(key: str) -> torch.Tensor:
        values = metrics[key]
        return values[target_mask.to(values.device).bool()] if target_mask is not None else values

    n = int(pick("kl").numel())
    out: dict[str, float] = {"n_tokens": float(n)}
    for key in FLOAT_METRICS:
        out[key] = float(pick(key).double().mean()) if n else math.nan
    out["top1_agreement"] = float(pick("agree").double().mean()) if n else math.nan
    out["acc_orig"] = float(pick("correct_orig").double().mean()) if n else math.nan
    out["acc_int"] = float(pick("correct_int").double().mean()) if n else math.nan
    out["acc_retained"] = out["acc_int"] / out["acc_orig"] if out["acc_orig"] else math.nan
    return out


def token_frame(
    base: Baseline,
    flat: dict[str, torch.Tensor],
    batch: TokenBatch,
    *,
    model: str,
    intervention: str,
    layers: str,
) -> pd.DataFrame:
    """Tidy per-token rows of one intervention on one batch (reference §6 schema).

    Columns: ``model, intervention, layers, doc_id, pos, target_index, target_id, top1_orig_id,
    top1_int_id, loss_orig, loss_int, kl, H_orig, H_int``, all at prediction position ``pos`` of
    the row (which predicts ``target_id``, the row's token at ``pos + 1``); ``target_index`` is
    that token's index among its document's tokens (BOS not counted; rows that continue a
    document start further in), so ``(doc_id, target_index)`` names one token. Entropies in
    bits, the rest in nats.
    """
    import numpy as np
    import pandas as pd

    rows = base.rows.cpu().numpy()
    n = len(rows)
    return pd.DataFrame(
        {
            "model": [model] * n,
            "intervention": [intervention] * n,
            "layers": [layers] * n,
            "doc_id": np.asarray(batch.doc_ids, dtype=object)[rows],
            "pos": base.positions.cpu().numpy(),
            "target_index": base.positions.cpu().numpy()
            + np.asarray(batch.starts or [0] * len(batch), dtype=np.int64)[rows],
            "target_id": base.targets.cpu().numpy(),
            "top1_orig_id": flat["top1_orig"].cpu().numpy(),
            "top1_int_id": flat["top1_int"].cpu().numpy(),
            "loss_orig": flat["loss_orig"].cpu().numpy(),
            "loss_int": flat["loss_int"].cpu().numpy(),
            "kl": flat["kl"].cpu().numpy(),
            "H_orig": flat["entropy_orig"].cpu().numpy(),
            "H_int": flat["entropy_int"].cpu().numpy(),
        }
    )
