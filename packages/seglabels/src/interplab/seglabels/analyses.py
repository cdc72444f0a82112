"""The seglabels analyses, registered as plugins.

``seglabels.benchmark``: synthetic data with injected errors, both models, every score.
``seglabels.score``: a user's own images, masks and pred_probs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from interplab.core.analysis import Analysis, AnalysisConfig, RunContext
from interplab.core.hashing import digest_tensors
from interplab.core.records import ExperimentRecord, Metric, MetricSpec

if TYPE_CHECKING:
    from interplab.seglabels.corrupt import InjectedErrors
    from interplab.seglabels.data import StreetScenes

__all__ = ["Benchmark", "BenchmarkConfig", "SceneDataConfig", "ScoreDataset", "ScoreDatasetConfig"]

METHODS = (
    "softmin", "class_balanced_softmin", "num_pixel_issues", "percentile", "below_threshold",
    "mean", "min",
)  # fmt: skip
ERROR_KINDS = ("drop_sky", "drop_car", "shift_sky", "shift_car", "swap_sky_car")
_EVAL = {
    "auprc": MetricSpec(unit="fraction", higher_is_better=True, description="average precision"),
    "auroc": MetricSpec(unit="fraction", higher_is_better=True, description="ROC AUC"),
    "precision_at_k": MetricSpec(unit="fraction", higher_is_better=True,
                                 description="precision among the k lowest scores"),
    "lift_at_k": MetricSpec(higher_is_better=True, description="precision@k / base rate"),
}  # fmt: skip


class SceneDataConfig(AnalysisConfig):
    """Procedural street scenes with the paper's annotation errors injected (rates as fields)."""

    n_images: int = Field(default=48, ge=8)
    """Procedural street scenes to generate."""
    size: int = Field(default=64, ge=32)
    """Image height and width in pixels."""
    drop_sky: float = Field(default=0.10, ge=0, le=1)
    """Probability that an image's sky is unlabeled."""
    drop_car: float = Field(default=0.10, ge=0, le=1)
    """Probability that an image's cars are unlabeled."""
    shift_sky: float = Field(default=0.05, ge=0, le=1)
    """Probability that an image's sky outline is deformed."""
    shift_car: float = Field(default=0.05, ge=0, le=1)
    """Probability that an image's car outlines are deformed."""
    swap_sky_car: float = Field(default=0.05, ge=0, le=1)
    """Probability that an image's sky and car labels are exchanged."""

    def make_data(self, seed: int) -> tuple[StreetScenes, InjectedErrors, dict[str, str]]:
        """The scenes, their injected errors, and the content hashes of images and given labels."""
        from interplab.seglabels.corrupt import ErrorRates, inject_label_errors
        from interplab.seglabels.data import make_street_scenes

        scenes = make_street_scenes(self.n_images, size=self.size, seed=seed)
        rates = ErrorRates(
            drop_sky=self.drop_sky, drop_car=self.drop_car, shift_sky=self.shift_sky,
            shift_car=self.shift_car, swap_sky_car=self.swap_sky_car,
        )  # fmt: skip
        injected = inject_label_errors(scenes.labels, seed=seed, rates=rates)
        inputs = {
            "images": digest_tensors({"images": scenes.images}),
            "labels": digest_tensors({"labels": injected.labels}),
        }
        return scenes, injected, inputs


class BenchmarkConfig(SceneDataConfig):
    """Config of ``seglabels.benchmark``."""

    architectures: tuple[Literal["deeplabv3plus", "fpn"], ...] = ("deeplabv3plus", "fpn")
    encoder: str = "resnet18"
    decoder_channels: int = Field(default=64, ge=8)
    epochs: int = Field(default=15, ge=1)
    """Training epochs per fold."""
    n_folds: int = Field(default=3, ge=2)
    """Cross-validation folds: every image is scored by a model that never saw it."""
    methods: tuple[str, ...] = METHODS
    """Image-score methods to compare (their default parameters)."""
    gallery: int = Field(default=6, ge=0)
    """Lowest-scoring images shown per model."""


class Benchmark(Analysis):
    """Label-error detection on procedural street scenes with injected annotation errors.

    Lad & Mueller 2023 (arXiv 2307.05080), §4: generate data, inject drop/shift/swap errors in
    sky and car, train DeepLabV3+ and FPN (K-fold, out-of-sample probabilities), score every
    image with every method, and evaluate AUPRC/AUROC/precision@k per error type.
    """

    name = "seglabels.benchmark"
    Config = BenchmarkConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        **{f"seglabels.{k}": spec for k, spec in _EVAL.items()},
        **{f"seglabels.auprc_{kind}": _EVAL["auprc"] for kind in ERROR_KINDS},
        "seglabels.miou_clean": MetricSpec(
            unit="fraction", higher_is_better=True, description="model mIoU against clean labels"
        ),
        "seglabels.miou_given": MetricSpec(
            unit="fraction", higher_is_better=True, description="model mIoU against given labels"
        ),
        "seglabels.base_rate": MetricSpec(unit="fraction", description="mislabeled fraction"),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Data → errors → models → scores → evaluation, one record per (model, method)."""
        from interplab.seglabels.evaluate import evaluate_by_kind, mean_iou
        from interplab.seglabels.models import SegmenterSpec, cross_val_pred_probs
        from interplab.seglabels.plots import pr_curves, worst_images
        from interplab.seglabels.scores import image_scores

        assert isinstance(config, BenchmarkConfig)
        scenes, injected, inputs = config.make_data(ctx.seed)
        n_classes = len(scenes.class_names)
        captions = [", ".join(kinds) for kinds in injected.kinds]
        for arch in config.architectures:
            spec = SegmenterSpec(
                architecture=arch, encoder=config.encoder, decoder_channels=config.decoder_channels,
                epochs=config.epochs,
            )  # fmt: skip
            key = {"what": "seglabels/cv-pred-probs", **inputs, "spec": spec.as_dict(),
                   "folds": config.n_folds, "seed": ctx.seed, "v": 1}  # fmt: skip
            probs = ctx.cache.get_or_compute(
                key,
                lambda spec=spec: cross_val_pred_probs(
                    scenes.images, injected.labels, n_classes, spec, n_folds=config.n_folds,
                    seed=ctx.seed, device=ctx.device, progress=ctx.progress,
                ),
            )  # fmt: skip
            predicted = probs.argmax(axis=1)
            model_metrics = {
                "seglabels.miou_clean": mean_iou(predicted, scenes.labels, n_classes),
                "seglabels.miou_given": mean_iou(predicted, injected.labels, n_classes),
                "seglabels.base_rate": float(injected.is_mislabeled.mean()),
            }
            scores = {m: image_scores(injected.labels, probs, method=m) for m in config.methods}
            figures = {
                "pr_curves": ctx.figure(
                    pr_curves(scores, injected.is_mislabeled, f"{arch}: find mislabeled images"),
                    title=f"precision-recall, {arch}",
                )
            }
            if config.gallery:
                figures["worst_images"] = ctx.figure(
                    worst_images(
                        scenes.images,
                        injected.labels,
                        probs,
                        scores["softmin"],
                        captions=captions,
                        top=config.gallery,
                    ),
                    title=f"lowest softmin scores, {arch} (caption: true errors)",
                )
            for method, values in scores.items():
                results = evaluate_by_kind(values, injected.kinds)
                overall = results["any"]
                metrics: dict[str, float | Metric] = {
                    **model_metrics,
                    "seglabels.auprc": overall.auprc,
                    "seglabels.auroc": overall.auroc,
                    "seglabels.precision_at_k": overall.precision_at_k,
                    "seglabels.lift_at_k": overall.lift_at_k,
                }
                for kind in ERROR_KINDS:
                    if kind in results:
                        metrics[f"seglabels.auprc_{kind}"] = results[kind].auprc
                yield ctx.record(
                    metrics,
                    key=f"{arch}-{method}",
                    params={"architecture": arch, "method": method},
                    inputs=inputs,
                    artifacts=figures if method == "softmin" else {},
                )

    @classmethod
    def figures(cls, records: Sequence[ExperimentRecord]) -> list[tuple[str, bytes]]:
        """AUPRC per method and error type, one figure per architecture."""
        from interplab.seglabels.plots import auprc_bars

        out = []
        for arch in sorted({str(r.params.get("architecture")) for r in records}):
            table: dict[str, dict[str, float]] = {}
            for r in records:
                if r.params.get("architecture") != arch or r.status != "completed":
                    continue
                row = {"all": r.metrics["seglabels.auprc"].value}
                for kind in ERROR_KINDS:
                    if f"seglabels.auprc_{kind}" in r.metrics:
                        row[kind] = r.metrics[f"seglabels.auprc_{kind}"].value
                table[str(r.params.get("method"))] = row
            if table:
                out.append((f"AUPRC by error type, {arch}", _png(auprc_bars(table, arch))))
        return out


def _flagged_fraction(issues: np.ndarray, labels: Any, ignore_index: int | None) -> float:
    """Flagged pixels over labelled pixels (void pixels are never flagged and do not count)."""
    if ignore_index is None:
        return float(issues.mean())
    labelled = int((np.asarray(labels) != ignore_index).sum())
    return float(issues.sum() / labelled) if labelled else float("nan")


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


class ScoreDatasetConfig(AnalysisConfig):
    """Config of ``seglabels.score``."""

    folder: Path
    """Folder with images/ and masks/ (PNG, paired by file stem)."""
    pred_probs: Path
    """Any model's probabilities, (N, K, H, W) in .npy or .npz; row i belongs to the i-th mask
    in file-name order (``sorted((folder / "masks").glob("*.png"))``: street_1, street_10,
    street_2)."""
    method: str = "softmin"
    ignore_index: int | None = None
    top: int = Field(default=12, ge=0)
    """Lowest-scoring images to show."""


class ScoreDataset(Analysis):
    """Rank a user's own segmentation dataset by label quality, from any model's pred_probs."""

    name = "seglabels.score"
    Config = ScoreDatasetConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "seglabels.n_images": MetricSpec(unit="images"),
        "seglabels.mean_score": MetricSpec(unit="fraction", higher_is_better=True),
        "seglabels.min_score": MetricSpec(unit="fraction", higher_is_better=True),
        "seglabels.flagged_pixel_fraction": MetricSpec(unit="fraction", higher_is_better=False),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Load, score, flag pixels, write the ranking (CSV) and a gallery."""
        from interplab.seglabels.data import load_folder, load_pred_probs, mask_files
        from interplab.seglabels.issues import find_label_issues
        from interplab.seglabels.plots import worst_images
        from interplab.seglabels.review import (
            pairing_agreement,
            pairing_warning,
            ranking_csv,
            ranking_rows,
        )
        from interplab.seglabels.scores import image_scores

        assert isinstance(config, ScoreDatasetConfig)
        images, labels, names = load_folder(config.folder)
        probs = load_pred_probs(config.pred_probs)
        scores = image_scores(
            labels, probs, method=config.method, ignore_index=config.ignore_index, progress=True
        )
        issues = find_label_issues(labels, probs, ignore_index=config.ignore_index)
        flagged = issues.reshape(len(issues), -1).sum(axis=1)
        files = [p.name for p in mask_files(Path(config.folder) / "masks")]  # load_folder's order
        agreement, shifted = pairing_agreement(labels, probs, ignore_index=config.ignore_index)
        if warning := pairing_warning(agreement, files, Path(config.folder) / "masks", shifted):
            ctx.log.warning("seglabels.score: %s", warning)
        artifacts = {
            "ranking": ctx.artifact(
                ranking_csv(ranking_rows(scores, flagged, list(names), files)).encode(),
                media_type="text/csv",
                title="images by ascending label quality",
            ),
        }
        if config.top:
            artifacts["worst_images"] = ctx.figure(
                worst_images(
                    images,
                    labels,
                    probs,
                    scores,
                    captions=list(names),
                    top=config.top,
                    ignore_index=config.ignore_index,
                ),
                title=f"lowest {config.method} scores",
            )
        yield ctx.record(
            {
                "seglabels.n_images": len(scores),
                "seglabels.mean_score": float(np.nanmean(scores)),
                "seglabels.min_score": float(np.nanmin(scores)),
                "seglabels.flagged_pixel_fraction": _flagged_fraction(
                    issues, labels, config.ignore_index
                ),
            },
            key="scores",
            inputs={"pred_probs": digest_tensors({"p": np.asarray(probs)})},
            artifacts=artifacts,
        )
