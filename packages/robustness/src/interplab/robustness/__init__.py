"""interplab.robustness: layer interventions on transformer LMs and the stages of inference.

Lad, Gurnee & Tegmark 2024, "The Remarkable Robustness of LLMs: Stages of Inference?" (arXiv
2406.19384). Names are imported lazily, so ``import interplab.robustness`` stays fast::

    from interplab.robustness import Delete, Swap, intervene, logits, layer_sweep, load_tokens

    with intervene(bridge, Delete(3)):
        out = logits(bridge, ids)                   # [batch, seq, vocab], use_cache=False
    frame = layer_sweep(bridge, load_tokens(texts, bridge, token_budget=16_384))
"""

from __future__ import annotations

from interplab.core.lazy import lazy_exports

__all__ = [
    "ZOO",
    "Ablate",
    "Delete",
    "ExecutionRecorder",
    "Permute",
    "Repeat",
    "Swap",
    "TokenBatch",
    "TokenSet",
    "ZooSpec",
    "attention_locality",
    "detokenization_scores",
    "find_blocks",
    "intervene",
    "layer_sweep",
    "load_model",
    "load_tokens",
    "logit_lens",
    "logits",
    "neuron_census",
    "plot_sweep",
    "previous_token_scores",
    "record_residuals",
    "residual_cka",
    "residual_sharpening",
    "subjoiner_scores",
    "summarize",
    "token_metrics",
]

_WHERE = {
    "load_model": "interplab.robustness.models",
    "ZOO": "interplab.robustness.zoo",
    "ZooSpec": "interplab.robustness.zoo",
    "Ablate": "interplab.robustness.interventions",
    "Delete": "interplab.robustness.interventions",
    "ExecutionRecorder": "interplab.robustness.interventions",
    "Permute": "interplab.robustness.interventions",
    "Repeat": "interplab.robustness.interventions",
    "Swap": "interplab.robustness.interventions",
    "find_blocks": "interplab.robustness.interventions",
    "intervene": "interplab.robustness.interventions",
    "logits": "interplab.robustness.interventions",
    "record_residuals": "interplab.robustness.interventions",
    "TokenBatch": "interplab.robustness.tokens",
    "TokenSet": "interplab.robustness.tokens",
    "load_tokens": "interplab.robustness.tokens",
    "layer_sweep": "interplab.robustness.sweep",
    "plot_sweep": "interplab.robustness.plots",
    "summarize": "interplab.robustness.metrics",
    "token_metrics": "interplab.robustness.metrics",
    "attention_locality": "interplab.robustness.stages",
    "detokenization_scores": "interplab.robustness.stages",
    "logit_lens": "interplab.robustness.stages",
    "neuron_census": "interplab.robustness.stages",
    "previous_token_scores": "interplab.robustness.stages",
    "residual_cka": "interplab.robustness.stages",
    "residual_sharpening": "interplab.robustness.stages",
    "subjoiner_scores": "interplab.robustness.stages",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
