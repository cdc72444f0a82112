"""``compose.stages-in-algorithmic-transformers``: the robustness lens on a MIPS task's transformer.

For each configured MIPS task (Michaud et al. 2024, arXiv 2402.05110) and training seed:

1. draw the task's data with the benchmark's seed and split (:meth:`Task.splits`), the same
   sequences MIPS sees;
2. encode it as a causal LM problem, ``BOS x_1 y_1 … x_L y_L`` (:mod:`._algorithmic.encoding`),
   and train a small GPT-2 (``GPT2LMHeadModel``) with the loss at the ``L`` output predictions
   only (:mod:`._algorithmic.train`); the ``save_pretrained`` folder is kept in ``ctx.cache``,
   keyed by task, data, settings, seed and device, so a rerun loads it instantly;
3. load that folder with the robustness package's ``load_model`` (a TransformerLens
   ``TransformerBridge``, the paper models' code path) and score its test accuracy at the
   output positions;
4. run robustness's ``layer_sweep`` (every single-layer deletion and adjacent swap, Lad, Gurnee
   & Tegmark 2024, arXiv 2406.19384) with the metrics restricted to the output predictions, its
   ``logit_lens`` (entropy, KL to the final output, top-1 agreement per layer) on the same
   positions, and a lens accuracy against the true outputs (:mod:`._algorithmic.probe`);
5. run MIPS (``synthesize_task``) on the task with a time budget: solved or not, the RNN's hidden
   size and the program's source.

Records: per (task, seed) one per intervention (key ``<task>-s<seed>-delete-L3``), then a task
summary (``<task>-s<seed>-summary``: accuracy, the sweep's worst deletion, the lens per layer and
the first decodable layer, MIPS's verdict with the program as a ``text/x-python`` artifact, a
figure), and finally ``summary`` with the figures of all tasks and the tables as CSV.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from interplab.compose._algorithmic.metrics import CI_METRICS, METRICS, ROW_METRICS
from interplab.compose._algorithmic.pipeline import (
    as_tensor,
    majority_accuracy,
    mips_summary,
    model_folder,
    task_data,
)
from interplab.compose._algorithmic.summary import label, value
from interplab.core.analysis import Analysis, AnalysisConfig, RunContext
from interplab.core.records import ExperimentRecord, MetricSpec

if TYPE_CHECKING:
    import pandas as pd

    from interplab.core.cache import Cache

__all__ = ["StagesConfig", "StagesInAlgorithmicTransformers", "model_folder", "task_data"]


class StagesConfig(AnalysisConfig):
    """Config of ``compose.stages-in-algorithmic-transformers``."""

    tasks: tuple[str, ...] = Field(
        default=("Parity_Last2", "Bitwise_Xor", "Prev1", "Sum_Last2"), min_length=1
    )
    """MIPS benchmark tasks (``interplab mips`` names, e.g. ``Sum_Last2``; any case)."""
    n_sequences: int = Field(default=5000, ge=20)
    """Sequences drawn per task with the benchmark's seed, split train first by the task's
    train_fraction; the transformer and MIPS train on the same training part."""
    n_layers: int = Field(default=4, ge=1, le=48)
    """Transformer blocks."""
    d_model: int = Field(default=64, ge=4, le=2048)
    """Residual stream width."""
    n_heads: int = Field(default=4, ge=1)
    """Attention heads per block (must divide d_model)."""
    train_steps: int = Field(default=1000, ge=1)
    """Optimiser steps (AdamW, warm-up then cosine decay)."""
    batch_size: int = Field(default=64, ge=1)
    """Training sequences per step (drawn with replacement)."""
    lr: float = Field(default=3e-3, gt=0, le=1)
    """Peak learning rate."""
    seeds: tuple[int, ...] = Field(default=(0,), min_length=1)
    """Transformer training seeds, as offsets to the run's seed (one model per entry)."""
    n_bootstrap: int = Field(default=200, ge=1)
    """Bootstrap resamples of test sequences for the sweep's 95% confidence intervals."""
    decodable_ratio: float = Field(default=0.9, gt=0, le=1)
    """A layer is "decodable" when its lens accuracy reaches this share of the model's."""
    max_vocab: int = Field(default=4096, ge=3)
    """Refuse tasks whose alphabet needs more tokens than this."""
    eval_batch_size: int = Field(default=256, ge=1)
    """Rows per forward pass in evaluation, sweep and lens."""
    mips_budget_s: float | None = Field(default=60.0, gt=0)
    """Rough wall-clock budget of MIPS's search and extraction per task; None: unlimited."""
    mips_max_exhaustive: int = Field(default=2**20, ge=0)
    """MIPS verification enumerates a task's inputs when there are at most this many."""

    @model_validator(mode="after")
    def _check(self) -> StagesConfig:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads={self.n_heads} does not divide d_model={self.d_model}; pick a divisor "
                "(e.g. n_heads=4 with d_model=64)."
            )
        lowered = [t.strip().lower() for t in self.tasks]
        if len(set(lowered)) != len(lowered):
            raise ValueError(f"`tasks` lists a task twice: {list(self.tasks)}.")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"`seeds` lists a seed twice: {list(self.seeds)}.")
        return self


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, number in metrics.items():
        if number is not None and math.isfinite(float(number)):
            out[key] = float(number)
    return out


class StagesInAlgorithmicTransformers(Analysis):
    """Layer sweep and logit lens of a small transformer trained on MIPS tasks, next to MIPS.

    A GPT-2 trained per task on ``BOS x_1 y_1 … x_L y_L`` (loss at the outputs only), loaded as
    a TransformerBridge and measured with the robustness package's ``layer_sweep`` and
    ``logit_lens`` at the output predictions; MIPS's verdict, RNN size and program for the same
    task and data beside it. Deterministic for a seed: training runs on one CPU thread, and
    MIPS is deterministic whenever its search finishes within ``mips_budget_s`` (a search cut
    short by the budget on a busy machine may find another network; both are cached).
    """

    name = "compose.stages-in-algorithmic-transformers"
    Config = StagesConfig
    metrics: ClassVar[dict[str, MetricSpec]] = METRICS

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Per task and seed: train (cached), sweep, lens, MIPS; then the overall summary."""
        import pandas as pd

        assert isinstance(config, StagesConfig)
        # resolve every name (and alphabet) before any training: typos fail at once
        names = [task_data(name, config)[1].task for name in config.tasks]
        multi = len(config.seeds) > 1
        sweeps, lenses, summaries = [], [], []
        for name in names:
            mips: dict[str, Any] | None = None
            for offset in config.seeds:
                records, frame, lens, summary, mips = self._one(name, offset, config, ctx, mips)
                yield from records
                line = label(name, offset, multi)
                sweeps.append(frame.assign(model=line))
                lenses.append(lens.assign(model=line))
                summaries.append(summary)
        sweep, lens = pd.concat(sweeps, ignore_index=True), pd.concat(lenses, ignore_index=True)
        yield self._overall(sweep, lens, summaries, names, ctx)

    def _one(
        self,
        name: str,
        offset: int,
        config: StagesConfig,
        ctx: RunContext,
        mips: dict[str, Any] | None,
    ) -> tuple[list[ExperimentRecord], pd.DataFrame, pd.DataFrame, Any, dict[str, Any]]:
        """Records, sweep frame, lens frame and summary record of one task and training seed."""
        import pandas as pd

        from interplab.compose._algorithmic.encoding import lens_tokens, sweep_tokens
        from interplab.compose._algorithmic.plots import plot_overview
        from interplab.compose._algorithmic.probe import (
            bridge_accuracy,
            first_decodable,
            lens_accuracy,
        )
        from interplab.compose._algorithmic.train import read_card
        from interplab.core.hashing import digest_tensors
        from interplab.robustness.models import load_model
        from interplab.robustness.stages.logit_lens import logit_lens
        from interplab.robustness.sweep import layer_sweep

        task, vocab, train_rows, test_rows, _, _ = task_data(name, config)
        train_seed = ctx.seed + offset
        folder = model_folder(ctx.cache, name, config, train_seed, ctx.device, ctx.progress)
        card = read_card(folder)
        model = load_model(folder, device=ctx.device, dtype="float32", cache=ctx.cache)
        n_layers = len(model.blocks)
        batch = config.eval_batch_size
        accuracy = bridge_accuracy(model, test_rows, batch_size=batch)
        frame = layer_sweep(
            model, sweep_tokens(test_rows, batch_size=batch), ("delete", "swap"),
            model_name=name, n_bootstrap=config.n_bootstrap, seed=ctx.seed,
            progress=ctx.progress,
        )  # fmt: skip
        lens = logit_lens(
            model, lens_tokens(test_rows, batch_size=batch), mode="recompute", add_bias=True
        )
        lens_acc = lens_accuracy(model, test_rows, batch_size=batch)
        if mips is None:
            key = {
                "what": "compose/algorithmic-mips", "v": 1, "task": name,
                "n_sequences": config.n_sequences, "seed": ctx.seed,
                "budget": config.mips_budget_s, "max_exhaustive": config.mips_max_exhaustive,
            }  # fmt: skip
            mips = ctx.cache.get_or_compute(
                key,
                partial(
                    mips_summary,
                    task,
                    config.n_sequences,
                    ctx.seed,
                    config.mips_budget_s,
                    config.mips_max_exhaustive,
                ),
            )
        inputs = {
            "model": digest_tensors(model.state_dict()),
            "test_rows": digest_tensors({"rows": as_tensor(test_rows)}),
        }
        prefix = f"{name}-s{offset}"
        records = []
        for row in frame.to_dict("records"):
            records.append(
                ctx.record(
                    self._row_metrics(row),
                    key=f"{prefix}-{row['intervention']}",
                    params={
                        "task": name,
                        "seed": offset,
                        "train_seed": train_seed,
                        "kind": row["kind"],
                        "intervention": row["intervention"],
                        "layers": [int(x) for x in str(row["layers"]).split("-")],
                        "first_layer": int(row["first_layer"]),
                        "relative_depth": float(row["relative_depth"]),
                        "n_layers": n_layers,
                    },
                    inputs=inputs,
                )
            )
        lens_frame = pd.DataFrame(
            {
                "task": name,
                "seed": offset,
                "entry": range(n_layers + 1),
                "label": lens.labels,
                "relative_depth": lens.relative_depth,
                "lens_accuracy": lens_acc,
                "lens_top1_agreement": lens.top1_agreement,
                "lens_entropy_bits": lens.entropy_bits,
                "lens_kl_nats": lens.kl_nats,
            }
        )
        entry = first_decodable(lens_acc, accuracy, config.decodable_ratio)
        deletes = frame[frame["kind"] == "delete"]
        worst = deletes.sort_values(["acc_retained", "kl"], ascending=[True, False]).iloc[0]
        swaps = frame.loc[frame["kind"] == "swap", "acc_retained"].dropna()
        majority = majority_accuracy(train_rows, test_rows)
        metrics = {
            "compose.transformer_acc": accuracy,
            "compose.majority_acc": majority,
            "compose.min_acc_retained_delete": deletes["acc_retained"].min(),
            "compose.mean_acc_retained_delete": deletes["acc_retained"].mean(),
            "compose.mean_acc_retained_swap": swaps.mean() if len(swaps) else None,
            "compose.most_harmful_deletion": int(worst["first_layer"]),
            "compose.first_decodable_layer": None if entry is None else entry - 1,
            "compose.first_decodable_depth": None if entry is None else entry / n_layers,
            "compose.lens_acc_embed": lens_acc[0],
            "compose.mips_solved": float(mips["solved"]),
            "compose.mips_hidden_dim": mips["hidden_dim"],
            "compose.mips_program_lines": mips["program_lines"],
            "compose.mips_rnn_accuracy": mips["rnn_accuracy"],
            "compose.n_params": card["n_params"],
        }
        artifacts = {
            "figure": ctx.figure(
                plot_overview(frame, lens_frame.assign(model=name), title=f"{name}, seed {offset}"),
                title=f"{name}: accuracy retained and logit-lens accuracy",
            ),
            "lens": ctx.artifact(
                lens_frame.to_csv(index=False).encode(),
                media_type="text/csv",
                title=f"{name}: logit lens per residual entry",
            ),
        }
        if mips["source"]:
            artifacts["program"] = ctx.artifact(
                mips["source"].encode(), media_type="text/x-python",
                title=f"MIPS program for {name} ({mips['stage']})",
            )  # fmt: skip
        summary = ctx.record(
            _finite(metrics),
            key=f"{prefix}-summary",
            params={
                "record": "task-summary",
                "task": name,
                "seed": offset,
                "train_seed": train_seed,
                "n_layers": n_layers,
                "vocab_size": vocab.size,
                "n_test": len(test_rows),
                "seq_len": (test_rows.shape[1] - 1) // 2,
                "most_harmful_deletion": str(worst["intervention"]),
                "first_decodable": None if entry is None else lens.labels[entry],
                "lens_labels": list(lens.labels),
                "lens_accuracy": [float(v) for v in lens_acc],
                "lens_top1_agreement": [float(v) for v in lens.top1_agreement],
                "lens_entropy_bits": [float(v) for v in lens.entropy_bits],
                "lens_kl_nats": [float(v) for v in lens.kl_nats],
                "lens_positions": lens.n_positions,
                "train_seconds": card["train_seconds"],
                "final_train_loss": card["curve"][-1][1] if card["curve"] else None,
                "mips_stage": mips["stage"],
                "mips_architecture": mips["architecture"],
                "mips_seconds": mips["seconds"],
            },
            inputs=inputs,
            artifacts=artifacts,
        )
        records.append(summary)
        del model
        return records, frame, lens_frame, summary, mips

    def _overall(
        self,
        sweep: pd.DataFrame,
        lens: pd.DataFrame,
        summaries: list[ExperimentRecord],
        names: list[str],
        ctx: RunContext,
    ) -> ExperimentRecord:
        from interplab.compose._algorithmic.plots import plot_overview

        accs = [r.metrics["compose.transformer_acc"].value for r in summaries]
        solved = {str(r.params["task"]) for r in summaries if value(r, "compose.mips_solved")}
        return ctx.record(
            {
                "compose.n_tasks": len(names),
                "compose.mean_transformer_acc": sum(accs) / len(accs),
                "compose.n_mips_solved": len(solved),
            },
            key="summary",
            params={"record": "summary", "task_names": names},
            artifacts={
                "overview": ctx.figure(
                    plot_overview(sweep, lens),
                    title="accuracy retained vs relative depth; logit-lens accuracy per layer",
                ),
                "sweep": ctx.artifact(
                    sweep.to_csv(index=False).encode(), media_type="text/csv", title="sweep rows"
                ),
                "lens": ctx.artifact(
                    lens.to_csv(index=False).encode(), media_type="text/csv", title="lens rows"
                ),
            },
        )

    @staticmethod
    def _row_metrics(row: dict[str, Any]) -> dict[str, float]:
        out: dict[str, Any] = {f"compose.{k}": row[k] for k in ROW_METRICS}
        out |= {
            f"compose.{k}_ci_{e}": row[f"{k}_ci_{e}"] for k in CI_METRICS for e in ("low", "high")
        }
        out["compose.n_tokens"] = row["n_tokens"]
        return _finite(out)

    @classmethod
    def console_summary(cls, records: Sequence[ExperimentRecord], cache: Cache) -> str | None:
        """One line per task and seed: accuracy, worst deletion, first decodable layer, MIPS."""
        from interplab.compose._algorithmic.summary import console_table

        return console_table(records)

    @classmethod
    def figures(cls, records: Sequence[ExperimentRecord]) -> list[tuple[str, bytes]]:
        """Accuracy retained vs relative depth and lens accuracy per layer, one line per task."""
        from interplab.compose._algorithmic.summary import overview_png

        png = overview_png(records)
        return [] if png is None else [("algorithmic transformers: sweep and logit lens", png)]
