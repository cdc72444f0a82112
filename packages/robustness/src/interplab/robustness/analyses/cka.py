"""``robustness.cka``: layer × layer CKA of the residual stream (unbiased HSIC).

Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), v3 feature-engineering evidence; reference §8.7.
One record per (model, residual entry) with its CKA to the next entry, to the embeddings and to
the last entry, then a summary with one heatmap per model and the matrices as CSV.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from interplab.core.analysis import Analysis, RunContext
from interplab.core.records import ExperimentRecord, MetricSpec
from interplab.robustness.analyses._inputs import summary_params
from interplab.robustness.analyses._stages import (
    StageConfig,
    csv_artifact,
    each_model_and_tokens,
    finite,
    slug,
)

__all__ = ["ResidualCKA", "ResidualCKAConfig"]


class ResidualCKAConfig(StageConfig):
    """Config of ``robustness.cka``."""

    include_bos: bool = False
    """Count the BOS token as an item of the Gram matrices (its large norm can dominate)."""


def _cka(description: str) -> MetricSpec:
    return MetricSpec(unit="fraction", description=description)


class ResidualCKA(Analysis):
    """Linear CKA (unbiased HSIC, summed over documents) between all residual-stream layers.

    Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), reference §8.7; Nguyen, Raghu & Kornblith
    2020, eq. 3.
    """

    name = "robustness.cka"
    Config = ResidualCKAConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "robustness.cka_next": _cka("CKA with the next residual entry"),
        "robustness.cka_embed": _cka("CKA with the embeddings (entry 0)"),
        "robustness.cka_last": _cka("CKA with the last block's output"),
        "robustness.n_docs": MetricSpec(unit="count", description="documents with >= 4 tokens"),
        "robustness.n_models": MetricSpec(unit="count", description="models in this run"),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """CKA of every model: one record per residual entry, then heatmaps and CSV."""
        from interplab.robustness.stages.cka import residual_cka
        from interplab.robustness.stages.plots import plot_cka

        assert isinstance(config, ResidualCKAConfig)
        multi = len(config.model_names) > 1
        artifacts, rows = {}, ["model,row,column,cka"]
        for name, model, tokens, inputs in each_model_and_tokens(config, ctx):
            r = residual_cka(model, tokens, include_bos=config.include_bos, progress=ctx.progress)
            m, n = r.matrix, len(r.labels)
            for i, label in enumerate(r.labels):
                metrics = {
                    "robustness.cka_next": m[i, i + 1] if i + 1 < n else float("nan"),
                    "robustness.cka_embed": m[i, 0],
                    "robustness.cka_last": m[i, -1],
                    "robustness.n_docs": r.n_docs,
                }
                yield ctx.record(
                    finite(metrics),
                    key=f"{slug(name)}-{label}" if multi else label,
                    params={
                        "model": name,
                        "entry": i,
                        "layer": i - 1 if i else None,
                        "label": label,
                        "relative_depth": float(r.relative_depth[i]),
                        "n_layers": n - 1,
                    },
                    inputs=inputs,
                )
                rows += [
                    f"{name},{label},{other},{m[i, j]:.6g}" for j, other in enumerate(r.labels)
                ]
            artifacts[f"{slug(name)}-cka"] = ctx.figure(
                plot_cka(r, title=f"{name}: residual CKA"), title=f"{name}: residual-stream CKA"
            )
            del model
        artifacts["matrices"] = csv_artifact(ctx, rows, title="CKA matrices")
        yield ctx.record(
            {"robustness.n_models": len(config.model_names)},
            key="summary",
            params=summary_params(config.model_names),
            artifacts=artifacts,
        )
