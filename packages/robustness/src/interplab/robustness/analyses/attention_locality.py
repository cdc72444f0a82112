"""``robustness.attention-locality``: detokenization, stage 1 of the stages of inference.

Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384); reference §8.1–§8.2. Per model and layer: mean
attention to the previous k tokens (± SEM over documents) and the best previous-token and
subjoiner head of the layer; a summary record holds the locality figure (one line per model),
per-head heatmaps and a per-head CSV.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from interplab.core.analysis import Analysis, RunContext
from interplab.core.records import ExperimentRecord, MetricSpec
from interplab.robustness.analyses._inputs import summary_params
from interplab.robustness.analyses._stages import (
    StageConfig,
    csv_artifact,
    each_model_and_tokens,
    finite,
    png,
    slug,
)

__all__ = ["AttentionLocality", "AttentionLocalityConfig"]


class AttentionLocalityConfig(StageConfig):
    """Config of ``robustness.attention-locality``."""

    k: int = Field(default=5, ge=1)
    """Previous tokens averaged over (paper: 5)."""
    include_bos: bool = False
    """Count BOS as one of the previous tokens (the notebook's code did; its comment did not)."""
    max_offset: int = Field(default=8, ge=1)
    """Longest within-word offset for the subjoiner score."""


def _fraction(description: str) -> MetricSpec:
    return MetricSpec(unit="fraction", description=description)


class AttentionLocality(Analysis):
    """Attention to the previous k tokens per layer; previous-token and subjoiner heads.

    Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), detokenization stage; reference §8.1–§8.2.
    """

    name = "robustness.attention-locality"
    Config = AttentionLocalityConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "robustness.attention_prev_k": _fraction(
            "mean attention weight on each of the previous k tokens (mean over documents)"
        ),
        "robustness.attention_prev_k_sem": _fraction("standard error over documents"),
        "robustness.prev_token_score_max": _fraction(
            "largest previous-token score of the layer's heads"
        ),
        "robustness.subjoiner_score_max": _fraction(
            "largest subjoiner score of the layer's heads (within-word − boundary baseline)"
        ),
        "robustness.n_docs": MetricSpec(unit="count", description="documents averaged"),
        "robustness.n_models": MetricSpec(unit="count", description="models in this run"),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Score every model, one record per (model, layer), then the summary with figures."""
        from interplab.robustness.stages.attention import detokenization_scores
        from interplab.robustness.stages.plots import plot_attention_locality, plot_head_scores

        assert isinstance(config, AttentionLocalityConfig)
        multi = len(config.model_names) > 1
        localities, artifacts, csv_rows = {}, {}, ["model,layer,head,previous_token,subjoiner"]
        for name, model, tokens, inputs in each_model_and_tokens(config, ctx):
            result = detokenization_scores(
                model,
                tokens,
                k=config.k,
                include_bos=config.include_bos,
                max_offset=config.max_offset,
                progress=ctx.progress,
            )
            loc, prev, sub = result.locality, result.previous_token, result.subjoiner.score
            localities[name] = loc
            n = len(loc.mean)
            for layer in range(n):
                metrics = {
                    "robustness.attention_prev_k": loc.mean[layer],
                    "robustness.attention_prev_k_sem": loc.sem[layer],
                    "robustness.prev_token_score_max": prev[layer].max(),
                    "robustness.subjoiner_score_max": sub[layer].max(),
                    "robustness.n_docs": loc.n_docs,
                }
                yield ctx.record(
                    finite(metrics),
                    key=f"{slug(name)}-L{layer}" if multi else f"L{layer}",
                    params={
                        "model": name,
                        "layer": layer,
                        "relative_depth": float(loc.relative_depth[layer]),
                        "n_layers": n,
                    },
                    inputs=inputs,
                )
                csv_rows += [
                    f"{name},{layer},{h},{prev[layer, h]:.6g},{sub[layer, h]:.6g}"
                    for h in range(prev.shape[1])
                ]
            tag = slug(name)
            artifacts[f"{tag}-previous-token"] = ctx.figure(
                plot_head_scores(prev, title=f"{name}: previous-token scores"),
                title=f"{name}: previous-token head scores",
            )
            artifacts[f"{tag}-subjoiner"] = ctx.figure(
                plot_head_scores(sub, title=f"{name}: subjoiner scores", label="within − baseline"),
                title=f"{name}: subjoiner head scores",
            )
            del model
        figure = ctx.figure(plot_attention_locality(localities), title="attention locality")
        yield ctx.record(
            {"robustness.n_models": len(localities)},
            key="summary",
            params=summary_params(config.model_names),
            artifacts={
                "locality": figure,
                **artifacts,
                "heads": csv_artifact(ctx, csv_rows, title="head scores"),
            },
        )

    @classmethod
    def figures(cls, records: Sequence[ExperimentRecord]) -> list[tuple[str, bytes]]:
        """Attention locality against relative depth, one line per model, over all runs."""
        from interplab.robustness.stages.attention import LocalityResult
        from interplab.robustness.stages.plots import plot_attention_locality

        layers: dict[tuple[str, int, bool], dict[int, ExperimentRecord]] = {}
        for r in records:
            if r.status == "completed" and "robustness.attention_prev_k" in r.metrics:
                key = (str(r.params["model"]), int(r.params["k"]), bool(r.params["include_bos"]))
                layers.setdefault(key, {})[int(r.params["layer"])] = r
        results = {}
        for (model, k, bos), by_layer in sorted(layers.items()):
            rows = [by_layer[i] for i in sorted(by_layer)]

            def values(name: str, rows: list[ExperimentRecord] = rows) -> np.ndarray:
                return np.array([x.metrics[name].value if name in x.metrics else np.nan
                                 for x in rows])  # fmt: skip

            n_docs = int(values("robustness.n_docs")[0])
            label = model if len(layers) == len({m for m, _, _ in layers}) else f"{model} k={k}"
            results[label] = LocalityResult(
                values("robustness.attention_prev_k"), values("robustness.attention_prev_k_sem"),
                np.empty((0, len(rows))), k, bos, n_docs,
            )  # fmt: skip
        if not results:
            return []
        return [("attention locality vs relative depth", png(plot_attention_locality(results)))]
