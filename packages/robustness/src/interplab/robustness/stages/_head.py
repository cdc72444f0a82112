"""The model's final norm and unembedding as plain tensors, so any residual can be decoded.

``logits = norm(x) @ W_U + b_U`` with ``norm(x) = γ ⊙ (x − μ(x)) / s + β`` for LayerNorm
(``s = sqrt(var(x) + eps)``, population variance) and ``γ ⊙ x / s`` for RMSNorm
(``s = sqrt(mean(x²) + eps)``). ``s`` is either recomputed from ``x`` or supplied (the cached
final scale of the paper-era logit lens, reference §8.3). Leaving out the bias drops ``β`` and
``b_U`` together: after TransformerLens weight processing (fold_ln) ``β @ W_U`` lives in ``b_U``,
so this equals the processed model's ``x̂ @ W_U`` up to a constant per position (center_unembed),
which no softmax statistic can see.

Read from the live model without changing it; :func:`final_head` checks once against the model's
own logits that the decoding is faithful, and raises for heads it cannot express (logit
soft-capping, a norm of another kind).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from interplab.core.errors import ConfigError

__all__ = ["FinalHead", "check_head", "entropy_bits", "final_head"]

LN_KINDS = ("LN", "LNPre")
RMS_KINDS = ("RMS", "RMSPre")


@dataclass(frozen=True)
class FinalHead:
    """Final norm + unembedding (float32 copies of the model's tensors).

    Attributes:
        kind: ``"LN"`` (centre, then scale) or ``"RMS"`` (scale only).
        weight: [d_model] effective γ (``1 + w`` for offset RMSNorms).
        bias: [d_model] β (zeros when the norm has none).
        eps: the norm's epsilon.
        W_U: [d_model, d_vocab].
        b_U: [d_vocab] (zeros when the model has none).
        precise: the model's weights are float32 or wider (tightens :func:`check_head`).
    """

    kind: Literal["LN", "RMS"]
    weight: torch.Tensor
    bias: torch.Tensor
    eps: float
    W_U: torch.Tensor
    b_U: torch.Tensor
    precise: bool = True

    def centre(self, x: torch.Tensor) -> torch.Tensor:
        """[..., d_model] ``x − mean(x)`` for LayerNorm, ``x`` for RMSNorm."""
        return x - x.mean(-1, keepdim=True) if self.kind == "LN" else x

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """[..., 1] the norm's divisor for ``x`` [..., d_model] (``ln_final.hook_scale``)."""
        c = self.centre(x)
        return torch.sqrt(c.pow(2).mean(-1, keepdim=True) + self.eps)

    def logits(
        self, x: torch.Tensor, *, scale: torch.Tensor | None = None, add_bias: bool = True
    ) -> torch.Tensor:
        """[..., d_vocab] decode residuals ``x`` [..., d_model].

        Args:
            x: residual stream vectors.
            scale: [..., 1] divisor to use instead of recomputing it from ``x``.
            add_bias: add ``β`` and ``b_U`` (False: the paper's lens without ``b_U``).
        """
        s = self.scale(x) if scale is None else scale
        h = self.centre(x) / s * self.weight
        if add_bias:
            return (h + self.bias) @ self.W_U + self.b_U
        return h @ self.W_U


def entropy_bits(logits: torch.Tensor) -> torch.Tensor:
    """[...] entropy in bits of ``softmax(logits)`` for ``logits`` [..., d_vocab] (no clamping)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1) / math.log(2.0)


def _norm_module(model: Any) -> Any:
    ln = getattr(model.ln_final, "original_component", None) or model.ln_final
    return ln


def final_head(model: Any) -> FinalHead:
    """The final norm and unembedding of ``model`` as a :class:`FinalHead` (float32 copies)."""
    kind_name = str(getattr(model.cfg, "normalization_type", "LN"))
    if getattr(model.cfg, "final_rms", False) or kind_name in RMS_KINDS:
        kind: Literal["LN", "RMS"] = "RMS"
    elif kind_name in LN_KINDS:
        kind = "LN"
    else:
        raise ConfigError(
            f"the model's normalization_type={kind_name!r} is neither LayerNorm nor RMSNorm; "
            "the logit lens and sharpening need a pre-norm model with a final LN or RMSNorm."
        )
    ln = _norm_module(model)
    d_model = int(model.cfg.d_model)
    weight = getattr(ln, "weight", None)
    w = torch.ones(d_model) if weight is None else weight.detach().float().cpu()
    if getattr(model.cfg, "rmsnorm_uses_offset", False):
        w = 1.0 + w
    bias = getattr(ln, "bias", None)
    b = torch.zeros(d_model) if bias is None else bias.detach().float().cpu()
    eps = getattr(ln, "eps", None) or getattr(ln, "variance_epsilon", None) or model.cfg.eps
    precise = model.W_U.dtype in (torch.float32, torch.float64)
    W_U = model.W_U.detach().float()
    b_U = getattr(model, "b_U", None)
    device = W_U.device
    bU = torch.zeros(W_U.shape[1]) if b_U is None else b_U.detach().float()
    return FinalHead(kind, w.to(device), b.to(device), float(eps), W_U, bU.to(device), precise)


def check_head(
    head: FinalHead, final_resid: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor
) -> None:
    """Raise if ``head`` does not reproduce the model's ``logits`` at real positions.

    Args:
        head: the decoding under test.
        final_resid: [batch, seq, d_model] output of the last executed block.
        logits: [batch, seq, d_vocab] the model's logits.
        mask: [batch, seq] bool, real positions.
    """
    mine = head.logits(final_resid[mask])
    theirs = logits[mask].float()
    mine, theirs = mine - mine.mean(-1, keepdim=True), theirs - theirs.mean(-1, keepdim=True)
    err = float((mine - theirs).abs().max()) if theirs.numel() else 0.0
    rel = 1e-3 if head.precise else 2e-2
    tol = rel * (1.0 + float(theirs.abs().max())) if theirs.numel() else 0.0
    if err > tol:
        raise ConfigError(
            f"decoding the final residual with ln_final and W_U misses the model's logits by "
            f"{err:.3g} (tolerance {tol:.3g}): this model's output head is not "
            "norm → W_U (+ b_U) (e.g. logit soft-capping or a post-norm); the logit lens and "
            "sharpening analyses do not support it."
        )
