"""``compose.robustness-of-segmenters``: block interventions on segmenters' ResNet encoders.

The robustness package's interventions work on any ordered list of residual blocks, not only a
transformer's: a segmentation-models-pytorch ResNet encoder has four stages
(``encoder.layer1..layer4``), each an ``nn.Sequential`` of residual blocks. This analysis trains
the seglabels segmenters on procedural street scenes with injected annotation errors, deletes
each residual block that keeps the shape of the stream (and swaps adjacent ones), and measures
how segmentation quality (mIoU against the clean masks) and label-quality detection (AUPRC of
ranking the mislabeled images first by each image score) degrade.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from interplab.core.analysis import Analysis, RunContext
from interplab.core.records import ExperimentRecord, MetricSpec
from interplab.seglabels.analyses import METHODS, SceneDataConfig

if TYPE_CHECKING:
    from interplab.core.cache import Cache

__all__ = ["RobustnessOfSegmenters", "RobustnessOfSegmentersConfig"]

Stage = Literal["layer1", "layer2", "layer3", "layer4"]


class RobustnessOfSegmentersConfig(SceneDataConfig):
    """Config of ``compose.robustness-of-segmenters`` (data and error rates as seglabels')."""

    n_images: int = Field(default=96, ge=8)
    """Procedural street scenes to generate (all are scored, each out of sample)."""
    size: int = Field(default=64, ge=32)
    """Image height and width in pixels (a multiple of 32: the encoders downsample 32-fold)."""
    architectures: tuple[Literal["fpn", "deeplabv3plus"], ...] = Field(
        default=("fpn", "deeplabv3plus"), min_length=1
    )
    """Segmenters to train (segmentation-models-pytorch FPN and DeepLabV3+)."""
    encoder: Literal["resnet18", "resnet34", "resnet50"] = "resnet18"
    """ResNet encoder (no pretrained weights: nothing is downloaded)."""
    decoder_channels: int = Field(default=64, ge=8)
    """Decoder width."""
    epochs: int = Field(default=15, ge=1)
    """Training epochs of each fold model."""
    batch_size: int = Field(default=16, ge=2)
    """Training batch size."""
    learning_rate: float = Field(default=2e-3, gt=0)
    """Adam learning rate (cosine schedule)."""
    n_folds: int = Field(default=3, ge=2)
    """Cross-validation folds: each image is predicted by a model that never saw it."""
    methods: tuple[str, ...] = Field(default=("softmin", "class_balanced_softmin", "mean"))
    """Image-score methods to evaluate (seglabels' names); the first is the headline."""
    interventions: tuple[Literal["delete", "swap"], ...] = Field(
        default=("delete", "swap"), min_length=1
    )
    """Delete every block that keeps the shape; swap every adjacent pair of such blocks."""
    stages: tuple[Stage, ...] = Field(
        default=("layer1", "layer2", "layer3", "layer4"), min_length=1
    )
    """Encoder stages whose blocks are edited."""

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in methods if m not in METHODS]
        if not methods or unknown:
            raise ValueError(
                f"methods {list(methods)}: unknown {unknown}; choose one or more of {list(METHODS)}"
            )
        if len(set(methods)) != len(methods):
            raise ValueError(f"methods {list(methods)} names a method twice")
        return methods

    @field_validator("architectures", "interventions", "stages")
    @classmethod
    def _distinct(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(values)) != len(values):
            raise ValueError(f"{list(values)} names a value twice; name each once")
        return values

    @model_validator(mode="after")
    def _consistent(self) -> RobustnessOfSegmentersConfig:
        if self.size % 32:
            raise ValueError(
                f"size={self.size} must be a multiple of 32 (the encoder downsamples 32-fold), "
                f"e.g. {max(32, self.size // 32 * 32)}"
            )
        if self.n_folds > self.n_images:
            raise ValueError(f"n_folds={self.n_folds} exceeds n_images={self.n_images}")
        return self


_FRACTION = {"unit": "fraction", "higher_is_better": True}


class RobustnessOfSegmenters(Analysis):
    """Label-quality AUPRC and mIoU of segmenters with encoder residual blocks deleted/swapped.

    Protocol: street scenes (seglabels) with injected drop/shift/swap annotation errors; per
    architecture, K fold models trained on the noisy labels exactly as
    ``seglabels.models.cross_val_pred_probs`` trains them (weights cached per fold, config and
    seed). For the intact models and for every intervention (delete one residual block that
    keeps the shape of the stream; swap two adjacent ones in a stage), each fold model, edited
    in place with ``interplab.robustness.interventions.intervene``, predicts only its held-out
    fold, so the ``pred_probs`` of all N images are out of sample (K-fold cross-validation; no
    image is scored by a model that trained on it). From them: mIoU against the clean masks,
    and per image-score method the AUPRC of ranking the truly mislabeled images first.

    One record per (architecture, intervention), key ``<arch>-<intervention>`` (``fpn-intact``,
    ``fpn-delete-layer2.1``, ``fpn-swap-layer1.0-layer1.1``), with the block's relative depth in
    the encoder (0 = first residual block, 1 = last); then a ``summary`` record with the figures
    (AUPRC and mIoU against depth, one line per model; AUPRC of every method).
    """

    name = "compose.robustness-of-segmenters"
    Config = RobustnessOfSegmentersConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "compose.miou": MetricSpec(**_FRACTION, description="mIoU against the clean masks"),
        **{
            f"compose.auprc_{m}": MetricSpec(
                **_FRACTION, description=f"AUPRC of {m} for finding mislabeled images"
            )
            for m in METHODS
        },
        "compose.miou_drop": MetricSpec(
            unit="fraction", higher_is_better=False, description="intact mIoU minus this mIoU"
        ),
        "compose.auprc_drop": MetricSpec(
            unit="fraction",
            higher_is_better=False,
            description="intact AUPRC minus this AUPRC (the first method)",
        ),
        "compose.relative_depth": MetricSpec(
            unit="fraction", description="edited block's position in the encoder (0 first, 1 last)"
        ),
        "compose.base_rate": MetricSpec(unit="fraction", description="mislabeled fraction"),
        "compose.max_miou_drop": MetricSpec(
            unit="fraction", higher_is_better=False, description="largest mIoU drop, any model"
        ),
        "compose.max_auprc_drop": MetricSpec(
            unit="fraction",
            higher_is_better=False,
            description="largest AUPRC drop of the first method, any model",
        ),
        "compose.drop_correlation": MetricSpec(
            description="Pearson r of mIoU drop and AUPRC drop over all interventions"
        ),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Data → errors → fold models → every intervention → metrics; then the summary."""
        from interplab.compose.segmenters_parts.plots import depth_figure, methods_figure
        from interplab.compose.segmenters_parts.sites import (
            encoder_sites,
            fold_models,
            out_of_fold_probs,
            site_metrics,
        )
        from interplab.seglabels.models import SegmenterSpec

        assert isinstance(config, RobustnessOfSegmentersConfig)
        scenes, injected, inputs = config.make_data(ctx.seed)
        n_classes = len(scenes.class_names)
        base_rate = float(injected.is_mislabeled.mean())
        headline = f"compose.auprc_{config.methods[0]}"
        rows: list[dict[str, Any]] = []
        for arch in config.architectures:
            spec = SegmenterSpec(
                architecture=arch, encoder=config.encoder, decoder_channels=config.decoder_channels,
                epochs=config.epochs, batch_size=config.batch_size,
                learning_rate=config.learning_rate,
            )  # fmt: skip
            models = fold_models(
                scenes.images, injected.labels, n_classes, spec, n_folds=config.n_folds,
                seed=ctx.seed, device=ctx.device, cache=ctx.cache, key=inputs,
                progress=ctx.progress,
            )  # fmt: skip
            sites = encoder_sites(models[0], stages=config.stages, kinds=config.interventions)
            intact: dict[str, float] = {}
            for site in ctx.progress(sites, total=len(sites), description=f"{arch} edits"):
                probs = out_of_fold_probs(
                    models, scenes.images, site, seed=ctx.seed, device=ctx.device
                )
                metrics = site_metrics(
                    probs, scenes.labels, injected.labels, injected.is_mislabeled, n_classes,
                    config.methods,
                )  # fmt: skip
                if site.kind == "intact":
                    intact = dict(metrics)
                metrics["compose.miou_drop"] = intact["compose.miou"] - metrics["compose.miou"]
                metrics["compose.auprc_drop"] = intact[headline] - metrics[headline]
                metrics["compose.relative_depth"] = site.relative_depth
                metrics["compose.base_rate"] = base_rate
                params = {"architecture": arch, **site.params()}
                rows.append({**params, "metrics": dict(metrics)})
                yield ctx.record(
                    _defined(metrics), key=f"{arch}-{site.label}", params=params, inputs=inputs
                )
        edited = [r for r in rows if r["kind"] != "intact"]
        miou_drops = np.array([r["metrics"]["compose.miou_drop"] for r in edited])
        auprc_drops = np.array([r["metrics"]["compose.auprc_drop"] for r in edited])
        artifacts = {
            "depth": ctx.figure(
                depth_figure(rows, config.methods[0]),
                title=f"AUPRC ({config.methods[0]}) and mIoU vs edited block depth",
            ),
            "methods": ctx.figure(
                methods_figure(rows, config.methods), title="AUPRC of every method per edit"
            ),
        }
        summary = {
            "compose.max_miou_drop": _nanmax(miou_drops),
            "compose.max_auprc_drop": _nanmax(auprc_drops),
            "compose.drop_correlation": _pearson(miou_drops, auprc_drops),
            "compose.base_rate": base_rate,
        }
        yield ctx.record(
            _defined(summary),
            key="summary",
            params={"architecture": "all", "intervention": "summary", "kind": "summary"},
            inputs=inputs,
            artifacts=artifacts,
        )

    @classmethod
    def console_summary(cls, records: Sequence[ExperimentRecord], cache: Cache) -> str | None:
        """Per model and intervention: depth, mIoU and each method's AUPRC, with drops."""
        from interplab.compose.segmenters_parts.plots import rows_of, table

        parts = []
        for run_id in dict.fromkeys(r.run_id for r in records):
            run = [r for r in records if r.run_id == run_id]
            rows = rows_of(run)
            if not rows:
                continue
            methods = [k.removeprefix("compose.auprc_") for k in rows[0]["metrics"]]
            methods = [m for m in methods if m in METHODS]
            seed = run[0].env.seed
            parts.append(f"run {run_id} (seed {seed}):\n" + table(rows, methods))
        return "\n\n".join(parts) or None


def _defined(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics without NaN (not defined here).

    E.g. the intact model's depth, or an AUPRC without any mislabeled image: a NaN metric would
    not compare equal after the records' JSON round trip.
    """
    return {k: v for k, v in metrics.items() if not np.isnan(v)}


def _nanmax(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.max()) if finite.size else float("nan")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])
