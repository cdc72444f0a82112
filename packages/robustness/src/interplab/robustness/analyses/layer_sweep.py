"""``robustness.layer-sweep``: delete / swap every layer and measure what survives.

Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), §3: every single-layer deletion and every adjacent
swap of a pretrained LM, scored per token against the unmodified model (KL(orig‖int), top-1
agreement, accuracy retained, loss delta, output entropy) and plotted against relative depth.
One record per (model, intervention), plus a summary record holding the figures (one per
metric and kind, one line per model). With ``models = [...]`` one run sweeps several models and
draws them in the same figures.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from interplab.core.analysis import Analysis, RunContext
from interplab.core.errors import ConfigError
from interplab.core.records import ExperimentRecord, MetricSpec
from interplab.robustness.analyses._inputs import (
    ModelTokensConfig,
    input_digests,
    load_model_and_tokens,
    summary_params,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LayerSweep", "LayerSweepConfig"]

Kind = Literal["delete", "swap", "repeat", "delete-attn", "delete-mlp"]

_SPECS = {
    "kl": MetricSpec(unit="nats", higher_is_better=False, description="mean KL(orig ‖ int)"),
    "top1_agreement": MetricSpec(
        unit="fraction", higher_is_better=True, description="top-1 of intervened = original"
    ),
    "acc_orig": MetricSpec(unit="fraction", description="top-1 accuracy of the original model"),
    "acc_int": MetricSpec(
        unit="fraction", higher_is_better=True, description="top-1 accuracy, intervened"
    ),
    "acc_retained": MetricSpec(
        unit="fraction", higher_is_better=True, description="acc_int / acc_orig"
    ),
    "loss_orig": MetricSpec(unit="nats", description="cross-entropy of the original model"),
    "loss_int": MetricSpec(
        unit="nats", higher_is_better=False, description="cross-entropy, intervened"
    ),
    "loss_delta": MetricSpec(
        unit="nats", higher_is_better=False, description="loss_int − loss_orig (positive hurts)"
    ),
    "entropy_orig": MetricSpec(unit="bits", description="output entropy of the original model"),
    "entropy_int": MetricSpec(unit="bits", description="output entropy, intervened"),
}
_CI = ("kl", "top1_agreement", "acc_int", "acc_retained", "loss_delta", "entropy_int")
METRICS: dict[str, MetricSpec] = {
    **{f"robustness.{k}": spec for k, spec in _SPECS.items()},
    **{
        f"robustness.{k}_ci_{end}": MetricSpec(
            unit=_SPECS[k].unit, description=f"bootstrap 95% CI over documents, {end} end"
        )
        for k in _CI
        for end in ("low", "high")
    },
    "robustness.n_tokens": MetricSpec(unit="tokens", description="prediction positions scored"),
    "robustness.n_interventions": MetricSpec(unit="interventions"),
    # summaries: of one model (a run of several also has one per model, key `<model>-summary`),
    # or, in the run's `summary` record, pooled over every model's rows
    "robustness.mean_acc_retained_delete": MetricSpec(
        unit="fraction",
        higher_is_better=True,
        description="mean over single-layer deletions (summary of several models: pooled rows)",
    ),
    "robustness.min_acc_retained_delete": MetricSpec(
        unit="fraction",
        higher_is_better=True,
        description="worst single-layer deletion (summary of several models: of any model)",
    ),
    "robustness.mean_acc_retained_swap": MetricSpec(
        unit="fraction",
        higher_is_better=True,
        description="mean over adjacent swaps (summary of several models: pooled rows)",
    ),
    "robustness.max_kl": MetricSpec(
        unit="nats", description="largest mean KL of any row (of any model, if several)"
    ),
}
FIGURE_METRICS = ("kl", "acc_retained", "top1_agreement", "loss_delta")


class LayerSweepConfig(ModelTokensConfig):
    """Config of ``robustness.layer-sweep``."""

    kinds: tuple[Kind, ...] = Field(default=("delete", "swap"), min_length=1)
    """Interventions to sweep over every layer: delete, swap (L↔L+1), repeat, delete-attn,
    delete-mlp."""
    prefix_reuse: bool = True
    """Start each intervention from the cached clean residual stream (same numbers, faster)."""
    swap_mode: Literal["module", "weights"] = "module"
    """Swap module objects (default) or exchange their weights in place (reference's way)."""
    layers: tuple[int, ...] | None = Field(default=None, min_length=1)
    """Only interventions whose first layer is listed (all layers if unset)."""
    models: tuple[str, ...] = ()
    """Several models to sweep in one run, drawn together (one line each); replaces `model`,
    which must then be left unset."""
    n_bootstrap: int = Field(default=1000, ge=1)
    """Bootstrap resamples of documents for the 95% confidence intervals."""

    @model_validator(mode="after")
    def _model_or_models(self) -> LayerSweepConfig:
        default = type(self).model_fields["model"].default
        if self.models and self.model != default:
            raise ValueError(
                f"give either `model` ({self.model!r}) or `models` ({list(self.models)}), "
                "not both; put every model in `models`."
            )
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"`models` lists a model twice: {list(self.models)}.")
        return self

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models to sweep."""
        return self.models or (self.model,)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text.removeprefix("zoo:")).strip("_")[-60:]


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


class LayerSweep(Analysis):
    """Delete / swap every layer of one or more LMs; KL, top-1 agreement, accuracy retained.

    Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), §3 and reference §5–§6 of interplab.
    """

    name = "robustness.layer-sweep"
    Config = LayerSweepConfig
    metrics: ClassVar[dict[str, MetricSpec]] = METRICS

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Sweep each model, yield one record per intervention, then the summary."""
        import pandas as pd

        from interplab.robustness.plots import plot_sweep
        from interplab.robustness.sweep import layer_sweep

        assert isinstance(config, LayerSweepConfig)
        frames = []
        multi = len(config.model_names) > 1
        for name in config.model_names:
            one = config.model_copy(update={"model": name, "models": ()})
            model, tokens = load_model_and_tokens(one, ctx)
            n_layers = len(model.blocks)
            if config.layers is not None:
                bad = [i for i in config.layers if not 0 <= i < n_layers]
                if bad:
                    raise ConfigError(
                        f"layers={list(config.layers)} includes {bad}, out of range for "
                        f"{name!r} with {n_layers} layers; use 0..{n_layers - 1}."
                    )
            frame = layer_sweep(
                model,
                tokens,
                config.kinds,
                prefix_reuse=config.prefix_reuse,
                swap_mode=config.swap_mode,
                layers=config.layers,
                model_name=name,
                n_bootstrap=config.n_bootstrap,
                seed=ctx.seed,
                progress=ctx.progress,
            )
            inputs = input_digests(model, tokens)
            for row in frame.to_dict("records"):
                key = f"{_slug(name)}-{row['intervention']}" if multi else row["intervention"]
                yield ctx.record(
                    self._row_metrics(row),
                    key=key,
                    params={
                        "model": name,
                        "kind": row["kind"],
                        "intervention": row["intervention"],
                        "intervention_layers": [int(x) for x in str(row["layers"]).split("-")],
                        "first_layer": int(row["first_layer"]),
                        "relative_depth": float(row["relative_depth"]),
                        "n_layers": n_layers,
                    },
                    inputs=inputs,
                )
            frames.append(frame)
            del model
            if multi:  # the model's own summary; the run's summary pools every model's rows
                yield ctx.record(
                    _summary_metrics(frame),
                    key=f"{_slug(name)}-summary",
                    params=summary_params((name,)),
                )
        table = pd.concat(frames, ignore_index=True)
        artifacts = {
            f"{kind}-{metric}": ctx.figure(
                plot_sweep(table, metric, kind=kind), title=f"{kind}: {metric} vs relative depth"
            )
            for kind in config.kinds
            if (table["kind"] == kind).any()
            for metric in FIGURE_METRICS
        }
        artifacts["table"] = ctx.artifact(
            table.to_csv(index=False).encode(), media_type="text/csv", title="sweep rows"
        )
        yield ctx.record(
            _summary_metrics(table),
            key="summary",
            params=summary_params(config.model_names),
            artifacts=artifacts,
        )

    @staticmethod
    def _row_metrics(row: dict[str, Any]) -> dict[str, float]:
        out = {f"robustness.{k}": row[k] for k in _SPECS}
        out |= {f"robustness.{k}_ci_{e}": row[f"{k}_ci_{e}"] for k in _CI for e in ("low", "high")}
        out["robustness.n_tokens"] = row["n_tokens"]
        return {k: float(v) for k, v in out.items() if _finite(v) is not None}

    @classmethod
    def figures(cls, records: Sequence[ExperimentRecord]) -> list[tuple[str, bytes]]:
        """KL and accuracy retained against relative depth, per kind, one line per model."""
        import pandas as pd

        from interplab.robustness.plots import plot_sweep

        rows = []
        for r in records:
            if r.status != "completed" or "kind" not in r.params:
                continue
            row: dict[str, Any] = {
                "model": r.params.get("model", r.params.get("model_name", "?")),
                "kind": r.params["kind"],
                "relative_depth": r.params["relative_depth"],
            }
            row |= {k.removeprefix("robustness."): m.value for k, m in r.metrics.items()}
            rows.append(row)
        if not rows:
            return []
        table = pd.DataFrame(rows)
        out = []
        for kind in sorted(table["kind"].unique()):
            for metric in ("kl", "acc_retained"):
                if metric in table.columns:
                    fig = plot_sweep(table, metric, kind=kind)
                    out.append((f"{kind}: {metric} vs relative depth", _png(fig)))
        return out


def _summary_metrics(table: pd.DataFrame) -> dict[str, float]:
    out: dict[str, float] = {
        "robustness.n_interventions": float(len(table)),
        "robustness.max_kl": float(table["kl"].max()),
    }
    for kind in ("delete", "swap"):
        retained = table.loc[table["kind"] == kind, "acc_retained"].dropna()
        if len(retained):
            out[f"robustness.mean_acc_retained_{kind}"] = float(retained.mean())
            if kind == "delete":
                out["robustness.min_acc_retained_delete"] = float(retained.min())
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
