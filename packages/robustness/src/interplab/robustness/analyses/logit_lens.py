"""``robustness.logit-lens``: entropy and KL-to-final of the logit lens at every layer.

Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384); reference §8.3. The normalisation is an explicit
choice (``recompute`` per layer, or the paper-era ``cached_final_scale``), as is adding ``b_U``;
both are recorded in every record. One record per (model, residual entry), then a summary record
holding the trajectories figure (one line per model).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal

import numpy as np

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

__all__ = ["LogitLens", "LogitLensConfig"]


class LogitLensConfig(StageConfig):
    """Config of ``robustness.logit-lens``."""

    mode: Literal["recompute", "cached_final_scale"] = "recompute"
    """``recompute``: ln_final per layer (faithful); ``cached_final_scale``: the final layer's
    cached LN scale for every layer (the paper's TransformerLens 1.18 lens)."""
    add_bias: bool = True
    """Add b_U (and the final norm's β); the paper's notebook dropped them."""
    include_bos: bool = False
    """Also score the prediction made at the BOS position (the paper did not)."""


class LogitLens(Analysis):
    """Logit-lens entropy, KL(final ‖ layer), final-token rank and top-1 agreement per layer.

    Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), reference §8.3, with the normalisation mode
    and the unembedding bias as explicit, recorded choices.
    """

    name = "robustness.logit-lens"
    Config = LogitLensConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "robustness.lens_entropy": MetricSpec(unit="bits", description="mean lens entropy"),
        "robustness.lens_entropy_std": MetricSpec(
            unit="bits", description="std of the lens entropy over positions"
        ),
        "robustness.lens_entropy_doc_std": MetricSpec(
            unit="bits", description="std over documents of their mean lens entropy (the paper's)"
        ),
        "robustness.lens_kl_to_final": MetricSpec(
            unit="nats", description="mean KL(final output ‖ lens at this layer)"
        ),
        "robustness.lens_final_rank": MetricSpec(
            unit="rank", description="mean rank of the final top-1 token under the lens (1 = top)"
        ),
        "robustness.lens_top1_agreement": MetricSpec(
            unit="fraction", description="lens top-1 equals the final top-1"
        ),
        "robustness.final_entropy": MetricSpec(
            unit="bits", description="mean entropy of the model's output"
        ),
        "robustness.n_tokens": MetricSpec(unit="count", description="prediction positions"),
        "robustness.n_models": MetricSpec(unit="count", description="models in this run"),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Lens every model, one record per residual entry, then the summary with the figure."""
        from interplab.robustness.stages.logit_lens import logit_lens
        from interplab.robustness.stages.plots import plot_logit_lens

        assert isinstance(config, LogitLensConfig)
        multi = len(config.model_names) > 1
        results = {}
        rows = ["model,entry,label,relative_depth,entropy_bits,kl_nats,rank,top1_agreement"]
        for name, model, tokens, inputs in each_model_and_tokens(config, ctx):
            r = logit_lens(
                model,
                tokens,
                mode=config.mode,
                add_bias=config.add_bias,
                include_bos=config.include_bos,
                progress=ctx.progress,
            )
            results[name] = r
            for i, label in enumerate(r.labels):
                metrics = {
                    "robustness.lens_entropy": r.entropy_bits[i],
                    "robustness.lens_entropy_std": r.entropy_std_bits[i],
                    "robustness.lens_entropy_doc_std": r.entropy_doc_std_bits[i],
                    "robustness.lens_kl_to_final": r.kl_nats[i],
                    "robustness.lens_final_rank": r.rank[i],
                    "robustness.lens_top1_agreement": r.top1_agreement[i],
                    "robustness.final_entropy": r.final_entropy_bits,
                    "robustness.n_tokens": r.n_positions,
                }
                depth = float(r.relative_depth[i])
                yield ctx.record(
                    finite(metrics),
                    key=f"{slug(name)}-{label}" if multi else label,
                    params={
                        "model": name,
                        "entry": i,
                        "layer": i - 1 if i else None,
                        "label": label,
                        "relative_depth": depth,
                        "n_layers": len(r.labels) - 1,
                        "mode": r.mode,
                        "add_bias": r.add_bias,
                    },
                    inputs=inputs,
                )
                rows.append(
                    f"{name},{i},{label},{depth:.6g},{r.entropy_bits[i]:.6g},"
                    f"{r.kl_nats[i]:.6g},{r.rank[i]:.6g},{r.top1_agreement[i]:.6g}"
                )
            del model
        figure = ctx.figure(
            plot_logit_lens(results),
            title=f"logit lens ({config.mode}, b_U {'added' if config.add_bias else 'dropped'})",
        )
        yield ctx.record(
            {"robustness.n_models": len(results)},
            key="summary",
            params={
                **summary_params(config.model_names),
                "mode": config.mode,
                "add_bias": config.add_bias,
            },
            artifacts={
                "trajectories": figure,
                "table": csv_artifact(ctx, rows, title="logit-lens trajectories"),
            },
        )

    @classmethod
    def figures(cls, records: Sequence[ExperimentRecord]) -> list[tuple[str, bytes]]:
        """Lens entropy and KL against relative depth, one line per model, per lens setting."""
        from interplab.robustness.stages.logit_lens import LensResult
        from interplab.robustness.stages.plots import plot_logit_lens

        groups: dict[tuple[str, bool], dict[str, dict[int, ExperimentRecord]]] = {}
        for r in records:
            if r.status == "completed" and "robustness.lens_entropy" in r.metrics:
                setting = (str(r.params["mode"]), bool(r.params["add_bias"]))
                by_model = groups.setdefault(setting, {})
                by_model.setdefault(str(r.params["model"]), {})[int(r.params["entry"])] = r
        out = []
        for (mode, bias), by_model in sorted(groups.items()):
            results = {}
            for model, entries in sorted(by_model.items()):
                rows = [entries[i] for i in sorted(entries)]

                def values(name: str, rows: list[ExperimentRecord] = rows) -> np.ndarray:
                    return np.array([x.metrics[name].value if name in x.metrics else np.nan
                                     for x in rows])  # fmt: skip

                results[model] = LensResult(
                    mode, bias, bool(rows[0].params.get("include_bos", False)),
                    tuple(str(x.params["label"]) for x in rows),
                    values("robustness.lens_entropy"), values("robustness.lens_entropy_std"),
                    values("robustness.lens_entropy_doc_std"),
                    values("robustness.lens_kl_to_final"), values("robustness.lens_final_rank"),
                    values("robustness.lens_top1_agreement"),
                    float(values("robustness.final_entropy")[0]),
                    int(values("robustness.n_tokens")[0]),
                )  # fmt: skip
            title = f"logit lens ({mode}, b_U {'added' if bias else 'dropped'})"
            out.append((title, png(plot_logit_lens(results))))
        return out
