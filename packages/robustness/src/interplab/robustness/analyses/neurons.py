"""``robustness.neurons``: prediction and suppression neuron census per layer.

Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), prediction-ensembling and residual-sharpening
stages; reference §8.4 (method of Gurnee et al. 2024). Weights only (no tokens): kurtosis and
skew over the vocabulary of each neuron's cosine with every unembedding vector, after weight
processing done on copies (the loaded model is not changed). One record per (model, layer), then
a summary with the counts figure and a CSV of the neurons above the kurtosis threshold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from interplab.core.analysis import Analysis, RunContext
from interplab.core.records import ExperimentRecord, MetricSpec
from interplab.robustness.analyses._inputs import summary_params
from interplab.robustness.analyses._stages import (
    ModelsConfig,
    csv_artifact,
    each_model,
    finite,
    slug,
)

__all__ = ["NeuronCensusAnalysis", "NeuronsConfig"]


class NeuronsConfig(ModelsConfig):
    """Config of ``robustness.neurons``."""

    kurtosis_threshold: float = Field(default=10.0, gt=0)
    """Kurtosis (mean z⁴, Gaussian = 3) above which a neuron counts (paper: 10)."""
    weights: Literal["processed", "raw"] = "processed"
    """``processed``: fold LN, centre writing weights and unembedding first (paper); ``raw``."""


class NeuronCensusAnalysis(Analysis):
    """Prediction (kurtosis > t, skew > 0) and suppression (skew < 0) neurons per layer.

    Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), reference §8.4; Gurnee et al. 2024,
    "Universal Neurons in GPT2".
    """

    name = "robustness.neurons"
    Config = NeuronsConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "robustness.prediction_neurons": MetricSpec(
            unit="count", description="neurons with kurtosis > threshold and skew > 0"
        ),
        "robustness.suppression_neurons": MetricSpec(
            unit="count", description="neurons with kurtosis > threshold and skew < 0"
        ),
        "robustness.prediction_fraction": MetricSpec(
            unit="fraction", description="prediction neurons / neurons in the layer"
        ),
        "robustness.suppression_fraction": MetricSpec(
            unit="fraction", description="suppression neurons / neurons in the layer"
        ),
        "robustness.kurtosis_median": MetricSpec(description="median neuron kurtosis"),
        "robustness.kurtosis_max": MetricSpec(description="largest neuron kurtosis"),
        "robustness.n_models": MetricSpec(unit="count", description="models in this run"),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Census every model: one record per layer, then the summary with figure and CSV."""
        from interplab.robustness.stages.neurons import neuron_census
        from interplab.robustness.stages.plots import plot_neuron_counts

        assert isinstance(config, NeuronsConfig)
        multi = len(config.model_names) > 1
        censuses = {}
        rows = ["model,layer,neuron,kurtosis,skew,variance,kind"]
        for name, model, inputs in each_model(config, ctx):
            c = neuron_census(
                model,
                kurtosis_threshold=config.kurtosis_threshold,
                weights=config.weights,
                progress=ctx.progress,
            )
            censuses[name] = c
            n_layers, n_neurons = c.kurtosis.shape
            for layer in range(n_layers):
                metrics = {
                    "robustness.prediction_neurons": c.prediction_counts[layer],
                    "robustness.suppression_neurons": c.suppression_counts[layer],
                    "robustness.prediction_fraction": c.prediction_counts[layer] / n_neurons,
                    "robustness.suppression_fraction": c.suppression_counts[layer] / n_neurons,
                    "robustness.kurtosis_median": np.median(c.kurtosis[layer]),
                    "robustness.kurtosis_max": c.kurtosis[layer].max(),
                }
                yield ctx.record(
                    finite(metrics),
                    key=f"{slug(name)}-L{layer}" if multi else f"L{layer}",
                    params={
                        "model": name,
                        "layer": layer,
                        "relative_depth": float(c.relative_depth[layer]),
                        "n_layers": n_layers,
                        "d_mlp": n_neurons,
                    },
                    inputs=inputs,
                )
            frame = c.frame()
            kept = frame[frame["kind"] != "other"]
            rows += [
                f"{name},{r.layer},{r.neuron},{r.kurtosis:.6g},{r.skew:.6g},"
                f"{r.variance:.6g},{r.kind}"
                for r in kept.itertuples()
            ]
            del model
        figure = ctx.figure(plot_neuron_counts(censuses), title="prediction / suppression neurons")
        yield ctx.record(
            {"robustness.n_models": len(censuses)},
            key="summary",
            params=summary_params(config.model_names),
            artifacts={
                "counts": figure,
                "neurons": csv_artifact(ctx, rows, title="neurons above the threshold"),
            },
        )
