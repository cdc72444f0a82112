"""``robustness.sharpening``: how the last block changes the output entropy, and which neurons.

Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), residual-sharpening stage. Per model: entropy of
the recompute logit lens entering the last block vs the model's output entropy, per position;
per neuron of the last block: the entropy increase when its contribution a_i · W_out[i] is
removed from the final residual (exactly, or to first order). One record per model, one per top
neuron, and a figure per model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from interplab.core.analysis import Analysis, RunContext
from interplab.core.records import ExperimentRecord, MetricSpec
from interplab.robustness.analyses._stages import (
    StageConfig,
    csv_artifact,
    each_model_and_tokens,
    finite,
    slug,
)

__all__ = ["ResidualSharpening", "ResidualSharpeningConfig"]


class ResidualSharpeningConfig(StageConfig):
    """Config of ``robustness.sharpening``."""

    method: Literal["exact", "first_order"] = "exact"
    """``exact``: re-decode the final residual without each neuron (N × d_mlp decodings);
    ``first_order``: gradient attribution −a_i ∇H · W_out[i] (for large models)."""
    include_bos: bool = False
    """Also use the prediction made at the BOS position."""
    top_neurons: int = Field(default=10, ge=1)
    """Neurons reported (largest entropy increase when removed)."""


class ResidualSharpening(Analysis):
    """Entropy before vs after the last block, and the neurons whose removal raises it most.

    Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), residual sharpening (stage 4).
    """

    name = "robustness.sharpening"
    Config = ResidualSharpeningConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "robustness.entropy_before": MetricSpec(
            unit="bits", description="mean lens entropy entering the last block"
        ),
        "robustness.entropy_after": MetricSpec(unit="bits", description="mean output entropy"),
        "robustness.entropy_change": MetricSpec(
            unit="bits", description="mean of after − before (negative: the last block sharpens)"
        ),
        "robustness.fraction_sharpened": MetricSpec(
            unit="fraction", description="positions whose entropy the last block lowered"
        ),
        "robustness.sharpening_neurons": MetricSpec(
            unit="count", description="last-block neurons whose removal raises the mean entropy"
        ),
        "robustness.neuron_entropy_effect": MetricSpec(
            unit="bits", description="mean entropy increase when this neuron is removed"
        ),
        "robustness.n_tokens": MetricSpec(unit="count", description="prediction positions"),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Per model: one summary record with the figure, then one record per top neuron."""
        from interplab.robustness.stages.plots import plot_sharpening
        from interplab.robustness.stages.sharpening import residual_sharpening

        assert isinstance(config, ResidualSharpeningConfig)
        multi = len(config.model_names) > 1
        for name, model, tokens, inputs in each_model_and_tokens(config, ctx):
            r = residual_sharpening(
                model,
                tokens,
                method=config.method,
                include_bos=config.include_bos,
                progress=ctx.progress,
            )
            prefix = f"{slug(name)}-" if multi else ""
            n_layers = len(model.blocks)
            base = {
                "model": name,
                "layer": r.layer,
                "n_layers": n_layers,
                "relative_depth": r.layer / max(n_layers - 1, 1),
                "method": r.method,
            }
            rows = ["neuron,entropy_effect_bits"] + [
                f"{i},{v:.6g}" for i, v in enumerate(r.neuron_effect_bits)
            ]
            artifacts = {
                "sharpening": ctx.figure(
                    plot_sharpening(r, top=config.top_neurons, title=f"{name}:"),
                    title=f"{name}: residual sharpening",
                ),
                "neurons": csv_artifact(
                    ctx, rows, title="entropy effect of every last-block neuron"
                ),
            }
            yield ctx.record(
                finite(
                    {
                        "robustness.entropy_before": float(np.mean(r.entropy_before_bits)),
                        "robustness.entropy_after": float(np.mean(r.entropy_after_bits)),
                        "robustness.entropy_change": r.mean_entropy_change_bits,
                        "robustness.fraction_sharpened": r.fraction_sharpened,
                        "robustness.sharpening_neurons": int((r.neuron_effect_bits > 0).sum()),
                        "robustness.n_tokens": len(r.entropy_after_bits),
                    }
                ),
                key=f"{prefix}summary",
                params=base,
                inputs=inputs,
                artifacts=artifacts,
            )
            for rank, neuron in enumerate(r.top_neurons(config.top_neurons)):
                yield ctx.record(
                    finite({"robustness.neuron_entropy_effect": r.neuron_effect_bits[neuron]}),
                    key=f"{prefix}neuron-{int(neuron)}",
                    params={**base, "neuron": int(neuron), "rank": rank},
                    inputs=inputs,
                )
            del model
