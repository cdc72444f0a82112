"""Read the trained transformer: output accuracy, and a logit lens against the true outputs.

Legend: ``N`` rows, ``T = 2L + 1`` tokens per row, ``n`` executed blocks, ``V`` vocabulary.

:func:`lens_accuracy` complements the robustness package's
:func:`~interplab.robustness.stages.logit_lens.logit_lens`, which compares each layer with the
model's *final* output (entropy, KL, top-1 agreement) but not with the true next token. Here
residual entry ``i`` (0 = embeddings, ``i = l + 1`` = output of block ``l``, read by execution
position with :func:`~interplab.robustness.interventions.record_residuals`) is decoded with the
model's own final LayerNorm and unembedding (``ln_final`` recomputed per entry, ``b_U`` added:
the ``recompute`` lens with ``add_bias=True``), and its argmax is compared with ``y_t`` at the
``L`` positions that predict an output. The last entry is the model's output, so its accuracy
is the model's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from interplab.compose._algorithmic.train import output_accuracy, output_logits

if TYPE_CHECKING:
    import torch

__all__ = ["bridge_accuracy", "first_decodable", "lens_accuracy"]


def _batches(rows: np.ndarray, batch_size: int, device: torch.device) -> list[torch.Tensor]:
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(rows))
    return [part.to(device) for part in tensor.split(batch_size)]


def bridge_accuracy(model: Any, rows: np.ndarray, *, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (a TransformerBridge) at the output positions of ``rows``."""
    import torch

    from interplab.robustness.interventions.context import logits, model_device

    correct = 0.0
    device = model_device(model)
    with torch.no_grad():
        for ids in _batches(rows, batch_size, device):
            correct += output_accuracy(logits(model, ids), ids) * len(ids)
    return correct / len(rows)


def lens_accuracy(model: Any, rows: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """``[n + 1]`` accuracy of the logit lens at every residual entry (module docstring)."""
    import torch

    from interplab.robustness.interventions import record_residuals
    from interplab.robustness.interventions.context import model_device

    device = model_device(model)
    correct: np.ndarray | None = None
    with torch.no_grad():
        for ids in _batches(rows, batch_size, device):
            residuals = record_residuals(model, ids)  # n + 1 of [B, T, d_model]
            targets = ids[:, 2::2]  # [B, L]
            hits = np.array([
                float((output_logits(model.unembed(model.ln_final(r))).argmax(-1) == targets).sum())
                for r in residuals
            ])  # fmt: skip
            correct = hits if correct is None else correct + hits
    assert correct is not None
    return correct / (len(rows) * ((rows.shape[1] - 1) // 2))


def first_decodable(accuracy: np.ndarray, final: float, ratio: float) -> int | None:
    """The first entry whose lens accuracy reaches ``ratio * final`` (None if ``final`` is 0).

    Args:
        accuracy: ``[n + 1]`` from :func:`lens_accuracy`.
        final: the model's accuracy (the last entry's, up to float rounding).
        ratio: share of the final accuracy that counts as "decodable".

    Returns:
        Entry index ``i`` (0 = embeddings, ``l + 1`` = output of block ``l``).
    """
    if final <= 0:
        return None
    reached = np.flatnonzero(accuracy >= ratio * final - 1e-12)
    return int(reached[0]) if len(reached) else len(accuracy) - 1
