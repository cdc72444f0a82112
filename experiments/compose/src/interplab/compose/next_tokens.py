"""``compose.label-quality-of-next-tokens``: segmentation label-quality scores on an LM's tokens.

Lad & Mueller 2023 (seglabels) score a segmentation mask by how confidently a model predicts
each pixel's given class. Here a document is a 1×T "image": the "label" of position t is the
token that actually comes next, the "pred_probs" are a language model's next-token distribution
(V classes, the vocabulary), so a position's self-confidence is p(true next token). Documents
whose text was corrupted (lines shuffled, tokens replaced, letters swapped, a block pasted from
another file) should contain improbable tokens and score low.

Pipeline: snippets of the corpus → one corruption in some of them (seeded, recorded) → a zoo LM
(robustness package) over every document, intact and with each single layer deleted
(``intervene(model, Delete(i))``) → every seglabels image score of every document → AUPRC /
AUROC per method and corruption kind (seglabels ``evaluate``). Records: one per (intervention,
method), plus a summary with the figure, the corruption list and the per-document scores.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from interplab.compose._next_tokens.documents import KINDS, CorruptionKind
from interplab.compose._next_tokens.tables import INTACT, format_table
from interplab.core.analysis import Analysis, AnalysisConfig, RunContext
from interplab.core.errors import ConfigError
from interplab.core.records import ExperimentRecord, MetricSpec

if TYPE_CHECKING:
    from interplab.core.cache import Cache

__all__ = ["METHODS", "LabelQualityOfNextTokens", "LabelQualityOfNextTokensConfig"]

METHODS = (
    "softmin", "class_balanced_softmin", "num_pixel_issues", "percentile", "below_threshold",
    "mean", "min",
)  # fmt: skip
MIN_SEQ_LEN = 16
"""Fewest tokens per document (BOS included) the budget may leave."""

_FRACTION = {"unit": "fraction", "higher_is_better": True}
METRICS: dict[str, MetricSpec] = {
    "compose.auprc": MetricSpec(**_FRACTION, description="average precision, corrupted first"),
    "compose.auroc": MetricSpec(**_FRACTION, description="ROC AUC, corrupted documents"),
    "compose.precision_at_k": MetricSpec(
        **_FRACTION, description="precision among the k lowest scores (k = #corrupted)"
    ),
    "compose.lift_at_k": MetricSpec(higher_is_better=True, description="precision@k / base rate"),
    **{
        f"compose.{what}_{kind}": MetricSpec(
            **_FRACTION, description=f"{what.upper()}: {kind} documents against clean ones"
        )
        for kind in KINDS
        for what in ("auprc", "auroc")
    },
    "compose.auprc_drop": MetricSpec(
        unit="fraction",
        higher_is_better=False,
        description="intact AUPRC − this intervention's, same method (positive: detection hurt)",
    ),
    "compose.base_rate": MetricSpec(unit="fraction", description="corrupted fraction"),
    "compose.nll_clean": MetricSpec(
        unit="nats", higher_is_better=False, description="mean −log p(next token), clean docs"
    ),
    "compose.nll_corrupted": MetricSpec(
        unit="nats", description="mean −log p(next token), corrupted docs"
    ),
    "compose.n_documents": MetricSpec(unit="documents"),
    "compose.n_corrupted": MetricSpec(unit="documents"),
    "compose.best_auprc": MetricSpec(**_FRACTION, description="best method's AUPRC, intact"),
    "compose.max_auprc_drop": MetricSpec(
        unit="fraction", description="largest AUPRC drop of the best method under a deletion"
    ),
}


class LabelQualityOfNextTokensConfig(AnalysisConfig):
    """Config of ``compose.label-quality-of-next-tokens``."""

    model: str = "zoo:gpt2-2l"
    """A zoo name (``zoo:<name>``), a local save_pretrained directory or a Hugging Face id."""
    corpus: str = "stdlib-heldout"
    """``stdlib-heldout`` (the zoo corpus's held-out files) or a folder of .txt files."""
    n_documents: int = Field(default=300, ge=4)
    """Snippets (runs of whole lines) drawn from the corpus; each is one "image"."""
    token_budget: int = Field(default=38_400, ge=MIN_SEQ_LEN)
    """Tokens of all documents together, BOS included: each document holds at most
    token_budget // n_documents tokens (and at most the model's context)."""
    corrupt_fraction: float = Field(default=0.3, gt=0, lt=1)
    """Fraction of the documents that get one corruption each."""
    corruptions: tuple[CorruptionKind, ...] = Field(default=KINDS, min_length=1)
    """Corruption kinds, assigned in turn: shuffle_lines, random_tokens, typos, paste."""
    token_rate: float = Field(default=0.05, gt=0, le=1)
    """random_tokens: fraction of a document's tokens replaced by uniform draws (at least 1)."""
    typo_rate: float = Field(default=0.05, gt=0, le=1)
    """typos: fraction of words (3+ letters) with two adjacent letters swapped (at least 1)."""
    shuffle_fraction: float = Field(default=0.3, gt=0, le=1)
    """shuffle_lines: fraction of the lines in the permuted block (at least 3 lines)."""
    paste_fraction: float = Field(default=0.3, gt=0, le=1)
    """paste: fraction of the lines replaced by lines of another file (at least 1)."""
    methods: tuple[str, ...] = Field(default=METHODS, min_length=1)
    """seglabels image-score methods (default parameters), applied to the self-confidences."""
    layers: tuple[int, ...] | None = None
    """Layers deleted one at a time, next to the intact model (all layers if unset, none if
    empty)."""
    batch_size: int = Field(default=16, ge=1)
    """Documents per model batch (memory: batch_size × V × T float32 probabilities)."""

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: tuple[str, ...]) -> tuple[str, ...]:
        from interplab.seglabels.scores import IMAGE_SCORE_METHODS

        known = [*IMAGE_SCORE_METHODS, "num_pixel_issues"]
        unknown = [m for m in methods if m not in known]
        if unknown:
            raise ConfigError(
                f"methods={list(methods)} includes {unknown}, not a seglabels image score; "
                f"use some of {sorted(known)}."
            )
        if len(set(methods)) != len(methods):
            raise ConfigError(f"methods={list(methods)} lists a method twice; list each once.")
        return methods

    @field_validator("corruptions")
    @classmethod
    def _unique_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(kinds)) != len(kinds):
            raise ConfigError(f"corruptions={list(kinds)} lists a kind twice; list each once.")
        return kinds

    @field_validator("layers")
    @classmethod
    def _layer_indices(cls, layers: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if layers is not None and (any(i < 0 for i in layers) or len(set(layers)) != len(layers)):
            raise ConfigError(
                f"layers={list(layers)} must be distinct layer indices >= 0 (0 is the first "
                "block); leave it unset to delete every layer in turn."
            )
        return layers

    @model_validator(mode="after")
    def _budget(self) -> LabelQualityOfNextTokensConfig:
        per_doc = self.token_budget // self.n_documents
        if per_doc < MIN_SEQ_LEN:
            raise ConfigError(
                f"token_budget={self.token_budget} leaves {per_doc} tokens per document for "
                f"n_documents={self.n_documents}; raise token_budget to at least "
                f"{MIN_SEQ_LEN * self.n_documents} or lower n_documents."
            )
        return self


class LabelQualityOfNextTokens(Analysis):
    """Find corrupted documents with seglabels' label-quality scores on an LM's next tokens.

    Each document is a 1×T image labelled with its true next tokens; pred_probs are the LM's
    next-token distribution, intact and with each single layer deleted. One record per
    (intervention, method) with AUPRC/AUROC overall and per corruption kind, plus a summary.
    """

    name = "compose.label-quality-of-next-tokens"
    Config = LabelQualityOfNextTokensConfig
    metrics: ClassVar[dict[str, MetricSpec]] = METRICS

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Documents → corruptions → LM next-token scores per intervention → evaluation."""
        from interplab.compose._next_tokens.documents import (
            CorruptionRates,
            corrupt_corpus,
            load_sources,
            make_snippets,
        )
        from interplab.compose._next_tokens.plots import summary_figure
        from interplab.compose._next_tokens.scoring import next_token_labels
        from interplab.compose._next_tokens.tables import scores_csv
        from interplab.core.hashing import digest_tensors
        from interplab.core.threads import cpu_threads
        from interplab.robustness.models import load_model
        from interplab.seglabels.evaluate import evaluate_by_kind

        assert isinstance(config, LabelQualityOfNextTokensConfig)
        model = load_model(config.model, device=ctx.device, cache=ctx.cache, progress=ctx.progress)
        n_layers = len(model.blocks)
        layers = tuple(range(n_layers)) if config.layers is None else config.layers
        bad = [i for i in layers if i >= n_layers]
        if bad:
            raise ConfigError(
                f"layers={list(layers)} includes {bad}, out of range for {config.model!r} with "
                f"{n_layers} layers; use 0..{n_layers - 1}."
            )
        seq_len = min(config.token_budget // config.n_documents, int(model.cfg.n_ctx))
        tokenizer = model.tokenizer
        snippets = make_snippets(
            load_sources(config.corpus), tokenizer, n_documents=config.n_documents,
            max_tokens=seq_len - 1, seed=ctx.seed, origin=f"corpus={config.corpus!r}",
        )  # fmt: skip
        rates = CorruptionRates(
            fraction=config.corrupt_fraction, token_rate=config.token_rate,
            typo_rate=config.typo_rate, shuffle_fraction=config.shuffle_fraction,
            paste_fraction=config.paste_fraction,
        )  # fmt: skip
        corpus = corrupt_corpus(
            snippets, tokenizer, kinds=config.corruptions, rates=rates, seed=ctx.seed,
            seq_len=seq_len,
        )  # fmt: skip
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else corpus.ids[0][0]
        ids, mask = corpus.arrays(pad)
        labels = next_token_labels(ids, mask)
        inputs = {
            "model": digest_tensors(model.state_dict()),
            "tokens": digest_tensors({"ids": ids, "mask": mask}),
        }
        interventions = [(INTACT, None), *((f"delete-L{i}", i) for i in layers)]
        scores: dict[str, dict[str, np.ndarray]] = {}
        with cpu_threads(ctx.device):  # on a busy CPU, more threads than idle cores crawl
            for label, layer in interventions:
                key = {"what": "compose/next-token-scores", **inputs, "layer": layer,
                       "methods": list(config.methods), "v": 1}  # fmt: skip
                scores[label] = ctx.cache.get_or_compute(
                    key, lambda layer=layer, label=label: _scores(
                        model, ids, labels, config, layer, ctx, description=f"scoring ({label})"
                    ),
                )  # fmt: skip

        is_corrupted, kinds = corpus.is_corrupted, corpus.kinds
        evaluations = {
            label: {m: evaluate_by_kind(s[m], kinds, names=config.corruptions)
                    for m in config.methods}
            for label, s in scores.items()
        }  # fmt: skip
        nll = {
            label: (float(s["nll"][~is_corrupted].mean()), float(s["nll"][is_corrupted].mean()))
            for label, s in scores.items()
        }
        for label, layer in interventions:
            for method in config.methods:
                results = evaluations[label][method]
                overall = results["any"]
                metrics = {
                    "compose.auprc": overall.auprc,
                    "compose.auroc": overall.auroc,
                    "compose.precision_at_k": overall.precision_at_k,
                    "compose.lift_at_k": overall.lift_at_k,
                    "compose.base_rate": overall.base_rate,
                    "compose.auprc_drop": evaluations[INTACT][method]["any"].auprc - overall.auprc,
                    "compose.nll_clean": nll[label][0],
                    "compose.nll_corrupted": nll[label][1],
                }
                for kind in config.corruptions:
                    if kind in results:
                        metrics[f"compose.auprc_{kind}"] = results[kind].auprc
                        metrics[f"compose.auroc_{kind}"] = results[kind].auroc
                yield ctx.record(
                    {k: float(v) for k, v in metrics.items() if math.isfinite(v)},
                    key=f"{label}-{method}",
                    params={
                        "intervention": label,
                        "deleted_layer": layer,
                        "method": method,
                        "n_layers": n_layers,
                        "seq_len": seq_len,
                    },
                    inputs=inputs,
                )

        auprc = {
            label: {m: evaluations[label][m]["any"].auprc for m in config.methods}
            for label in scores
        }
        best = max(config.methods, key=lambda m: auprc[INTACT][m])
        drops = [auprc[INTACT][best] - auprc[label][best] for label in scores if label != INTACT]
        figure = summary_figure(
            auprc, scores, is_corrupted,
            title=f"{config.model}: corrupted documents found by seglabels scores "
                  f"({len(is_corrupted)} docs, {int(is_corrupted.sum())} corrupted)",
        )  # fmt: skip
        artifacts = {
            "figure": ctx.figure(figure, title="AUPRC by intervention and precision-recall"),
            "corruptions": ctx.artifact(
                json.dumps([c.as_json() for c in corpus.corruptions], indent=1).encode(),
                media_type="application/json", title="which document got which corruption",
            ),
            "scores": ctx.artifact(
                scores_csv(corpus, scores, config.methods).encode(),
                media_type="text/csv", title="per-document scores by intervention",
            ),
        }  # fmt: skip
        summary = {
            "compose.n_documents": float(len(is_corrupted)),
            "compose.n_corrupted": float(is_corrupted.sum()),
            "compose.base_rate": float(is_corrupted.mean()),
            "compose.best_auprc": auprc[INTACT][best],
            "compose.nll_clean": nll[INTACT][0],
            "compose.nll_corrupted": nll[INTACT][1],
        }
        if drops:
            summary["compose.max_auprc_drop"] = max(drops)
        yield ctx.record(
            summary,
            key="summary",
            params={
                "best_method": best,
                "interventions": [label for label, _ in interventions],
                "n_layers": n_layers,
                "seq_len": seq_len,
            },
            inputs=inputs,
            artifacts=artifacts,
        )

    @classmethod
    def console_summary(cls, records: Sequence[ExperimentRecord], cache: Cache) -> str | None:
        """AUPRC of every method (rows) under every intervention (columns), per run."""
        parts = []
        for run_id in dict.fromkeys(r.run_id for r in records):
            mine = [r for r in records if r.run_id == run_id and "method" in r.params]
            if not mine:
                continue
            parts.append(format_table(mine))
        return "\n\n".join(parts) or None


def _scores(
    model: Any, ids: np.ndarray, labels: np.ndarray, config: LabelQualityOfNextTokensConfig,
    layer: int | None, ctx: RunContext, *, description: str,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Every method's document scores (and NLL) with ``layer`` deleted (None: intact)."""
    from interplab.compose._next_tokens.scoring import NextTokenProbs, score_documents
    from interplab.robustness.interventions import Delete, intervene

    probs = NextTokenProbs(model, ids, vocab_size=int(model.cfg.d_vocab))
    edit = intervene(model, Delete(layer)) if layer is not None else contextlib.nullcontext()
    with edit:
        return score_documents(
            probs, labels, config.methods, batch_size=config.batch_size,
            progress=ctx.progress, description=description,
        )  # fmt: skip
