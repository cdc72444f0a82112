"""Prediction and suppression neurons (reference §8.4; Gurnee et al. 2024, "Universal Neurons").

Legend: L blocks (``model.blocks`` in list order), D = d_mlp neurons per block, d = d_model,
V = d_vocab.

For neuron (l, i) with output weights w = W_out[l, i] (the row it adds to the residual stream)
and the unit-norm unembedding columns Û_v = W_U[:, v] / ‖W_U[:, v]‖::

    s_v  = (w · Û_v) / ‖w‖                         cosine with every token, v = 1..V
    z_v  = (s_v − mean s) / std s                  population std
    skew = mean z³      kurt = mean z⁴             (kurt is not excess: a Gaussian gives 3)
    prediction neuron:  kurt > threshold and skew > 0
    suppression neuron: kurt > threshold and skew < 0      (paper: threshold 10)

Weights are first processed as TransformerLens ``process_weights(fold_ln=True,
center_writing_weights=True, center_unembed=True, fold_value_biases=True)`` does, computed here on
copies of the two matrices the census reads, so the caller's model is never changed:

- fold_ln folds the final norm's γ into W_U (``W_U ← diag(γ) W_U``; ``1 + w`` for offset RMSNorms)
  and, for LayerNorm models, centres each column of W_U over d_model;
- center_writing_weights centres each W_out row over d_model (LayerNorm models only);
- center_unembed centres each row of W_U over the vocabulary;
- fold_value_biases and the folding of the blocks' own norms touch neither W_out nor W_U.

A model that TransformerLens already processed (``enable_compatibility_mode()``) is read as it is.
``weights="raw"`` skips processing (the reference found counts change completely without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError
from interplab.robustness.stages._capture import check_model
from interplab.robustness.stages._head import LN_KINDS

__all__ = ["NeuronCensus", "census_weights", "neuron_census", "neuron_moments"]

WeightsChoice = Literal["processed", "raw"]


@dataclass(frozen=True)
class NeuronCensus:
    """Vocabulary moments of every MLP neuron's output weights and the resulting counts.

    Attributes:
        kurtosis: [L, D] mean z⁴ over the vocabulary.
        skew: [L, D] mean z³.
        variance: [L, D] population variance of the cosines s.
        threshold: the kurtosis threshold used.
        weights: ``processed`` or ``raw``.
    """

    kurtosis: np.ndarray
    skew: np.ndarray
    variance: np.ndarray
    threshold: float
    weights: str

    @property
    def is_prediction(self) -> np.ndarray:
        """[L, D] bool: kurtosis above the threshold and positive skew."""
        return (self.kurtosis > self.threshold) & (self.skew > 0)

    @property
    def is_suppression(self) -> np.ndarray:
        """[L, D] bool: kurtosis above the threshold and negative skew."""
        return (self.kurtosis > self.threshold) & (self.skew < 0)

    @property
    def prediction_counts(self) -> np.ndarray:
        """[L] prediction neurons per layer."""
        return self.is_prediction.sum(axis=1)

    @property
    def suppression_counts(self) -> np.ndarray:
        """[L] suppression neurons per layer."""
        return self.is_suppression.sum(axis=1)

    @property
    def relative_depth(self) -> np.ndarray:
        """[L] l / (L − 1)."""
        n = self.kurtosis.shape[0]
        return np.arange(n) / max(n - 1, 1)

    def frame(self) -> Any:
        """One row per neuron: layer, neuron, kurtosis, skew, variance, kind.

        ``kind`` is ``prediction``, ``suppression`` or ``other``.
        """
        import pandas as pd

        n_layers, n_neurons = self.kurtosis.shape
        kind = np.where(
            self.is_prediction, "prediction", np.where(self.is_suppression, "suppression", "other")
        )
        return pd.DataFrame(
            {
                "layer": np.repeat(np.arange(n_layers), n_neurons),
                "neuron": np.tile(np.arange(n_neurons), n_layers),
                "kurtosis": self.kurtosis.ravel(),
                "skew": self.skew.ravel(),
                "variance": self.variance.ravel(),
                "kind": kind.ravel(),
            }
        )


def census_weights(
    model: Any, *, weights: WeightsChoice = "processed"
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The W_out of each block [D, d] and W_U [d, V] the census reads (float32 copies).

    With ``weights="processed"`` they are transformed as the module docstring says; the
    model's own parameters are not touched.
    """
    if weights not in ("processed", "raw"):
        raise ConfigError(f"weights={weights!r} must be 'processed' (paper) or 'raw'.")
    w_out = [block.mlp.W_out.detach().float().clone() for block in model.blocks]
    w_u = model.W_U.detach().float().clone()
    if weights == "raw" or getattr(model, "_weights_processed", False):
        return w_out, w_u
    cfg = model.cfg
    is_ln = str(getattr(cfg, "normalization_type", "LN")) in LN_KINDS and not getattr(
        cfg, "final_rms", False
    )
    ln = getattr(model.ln_final, "original_component", None) or model.ln_final
    gamma = getattr(ln, "weight", None)
    if gamma is not None:
        g = gamma.detach().float().to(w_u.device)
        w_u = w_u * ((1.0 + g) if getattr(cfg, "rmsnorm_uses_offset", False) else g)[:, None]
    if is_ln:
        w_u = w_u - w_u.mean(0, keepdim=True)
        w_out = [w - w.mean(-1, keepdim=True) for w in w_out]
    w_u = w_u - w_u.mean(1, keepdim=True)
    return w_out, w_u


def neuron_moments(
    w_out: torch.Tensor, w_u: torch.Tensor, *, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kurtosis, skew and variance over the vocabulary of each neuron's cosines.

    Args:
        w_out: [D, d] output weight rows.
        w_u: [d, V] unembedding.
        chunk: neurons per matrix product (memory ``chunk × V`` doubles).

    Returns:
        kurtosis, skew, variance: each [D] (float64; nan for an all-zero row).
    """
    u = w_u.double()
    u = u / u.norm(dim=0, keepdim=True).clamp(min=1e-30)
    kurt, skew, var = [], [], []
    for start in range(0, w_out.shape[0], chunk):
        w = w_out[start : start + chunk].double().to(u.device)
        s = (w @ u) / w.norm(dim=1, keepdim=True)
        centred = s - s.mean(dim=1, keepdim=True)
        v = centred.pow(2).mean(dim=1, keepdim=True)
        z = centred / v.sqrt()
        kurt.append(z.pow(4).mean(1))
        skew.append(z.pow(3).mean(1))
        var.append(v.squeeze(1))
    return tuple(torch.cat(x).cpu().numpy() for x in (kurt, skew, var))  # type: ignore[return-value]


def neuron_census(
    model: Any,
    *,
    kurtosis_threshold: float = 10.0,
    weights: WeightsChoice = "processed",
    progress: Progress = no_progress,
) -> NeuronCensus:
    """Prediction / suppression census of every MLP neuron of ``model`` (module docstring).

    Args:
        model: a TransformerBridge (left unchanged).
        kurtosis_threshold: kurtosis (non-excess) above which a neuron counts (paper: 10).
        weights: ``processed`` (paper) or ``raw``.
        progress: ``progress(iterable, total=..., description=...)`` over blocks.

    Returns:
        a :class:`NeuronCensus` with [L, D] moments; layers are ``model.blocks`` in list order.
    """
    check_model(model)
    if not np.isfinite(kurtosis_threshold) or kurtosis_threshold <= 0:
        raise ConfigError(
            f"kurtosis_threshold={kurtosis_threshold!r} must be a positive number "
            "(the paper uses 10; a Gaussian has kurtosis 3)."
        )
    w_out, w_u = census_weights(model, weights=weights)
    rows = [
        neuron_moments(w, w_u)
        for w in progress(w_out, total=len(w_out), description="neuron census")
    ]
    kurt, skew, var = (np.stack([r[j] for r in rows]) for j in range(3))
    return NeuronCensus(kurt, skew, var, float(kurtosis_threshold), weights)
