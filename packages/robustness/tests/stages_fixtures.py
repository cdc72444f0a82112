"""Shared pieces of the stage tests: "spiky" tiny models and varied-length token sets.

Random tiny models from ``save_tiny`` have near-uniform attention and logits and identity layer
norms, which would let a wrong statistic pass. ``save_spiky`` scales the linear weights up
(peaked attention, confident logits) and randomises every norm's γ and β and every linear bias,
so that weight processing, β and b_U all matter.
"""

from __future__ import annotations

from pathlib import Path

import torch
from robustness_helpers import save_tiny, toy_corpus

from interplab.robustness.tokens import TokenSet, load_tokens

NORM_NAMES = ("ln_", "layernorm", "layer_norm")


def save_spiky(path: Path, family: str, *, gain: float = 5.0, seed: int = 0) -> Path:
    """``save_tiny`` with linear weights × ``gain`` and random norm γ, β and linear biases."""
    from transformers import AutoModelForCausalLM

    save_tiny(path, family, seed=seed)
    model = AutoModelForCausalLM.from_pretrained(path)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = any(n in name for n in NORM_NAMES)
            if is_norm and name.endswith("weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif is_norm or name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif p.ndim == 2:
                p.mul_(gain)
    model.save_pretrained(path, safe_serialization=True)
    return path


def varied_tokens(model: object, *, n_docs: int = 7, batch_size: int = 3,
                  seq_len: int = 48) -> TokenSet:  # fmt: skip
    """Documents of different lengths, so batches are right-padded."""
    docs = [d[: 12 + 17 * i] for i, d in enumerate(toy_corpus(n_docs))]
    tokens = load_tokens(docs, model, token_budget=10_000, seq_len=seq_len, batch_size=batch_size)
    assert any(not bool(b.mask.all()) for b in tokens), "expected padded rows"
    return tokens


_SPIKY: dict[str, Path] = {}


def spiky_dir(tmp_path_factory: object, family: str) -> Path:
    """One spiky model directory per family for the whole test session."""
    if family not in _SPIKY:
        folder = tmp_path_factory.mktemp(f"spiky-{family}")  # type: ignore[attr-defined]
        _SPIKY[family] = save_spiky(folder, family)
    return _SPIKY[family]
