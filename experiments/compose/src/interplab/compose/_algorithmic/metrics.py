"""Metric specs of ``compose.stages-in-algorithmic-transformers`` (keys ``compose.*``)."""

from __future__ import annotations

from interplab.core.records import MetricSpec

__all__ = ["CI_METRICS", "METRICS", "ROW_METRICS"]

ROW_METRICS = {
    "kl": MetricSpec(unit="nats", higher_is_better=False, description="mean KL(orig ‖ int)"),
    "top1_agreement": MetricSpec(
        unit="fraction", higher_is_better=True, description="top-1 of intervened = original"
    ),
    "acc_orig": MetricSpec(unit="fraction", description="output accuracy of the original model"),
    "acc_int": MetricSpec(
        unit="fraction", higher_is_better=True, description="output accuracy, intervened"
    ),
    "acc_retained": MetricSpec(
        unit="fraction", higher_is_better=True, description="acc_int / acc_orig"
    ),
    "loss_orig": MetricSpec(unit="nats", description="cross-entropy at outputs, original"),
    "loss_int": MetricSpec(
        unit="nats", higher_is_better=False, description="cross-entropy at outputs, intervened"
    ),
    "loss_delta": MetricSpec(
        unit="nats", higher_is_better=False, description="loss_int − loss_orig (positive hurts)"
    ),
    "entropy_orig": MetricSpec(unit="bits", description="output entropy, original"),
    "entropy_int": MetricSpec(unit="bits", description="output entropy, intervened"),
}
CI_METRICS = ("kl", "top1_agreement", "acc_retained")
_FRACTION = {"unit": "fraction", "higher_is_better": True}
METRICS: dict[str, MetricSpec] = {
    **{f"compose.{k}": spec for k, spec in ROW_METRICS.items()},
    **{
        f"compose.{k}_ci_{end}": MetricSpec(
            unit=ROW_METRICS[k].unit, description=f"bootstrap 95% CI over test sequences, {end} end"
        )
        for k in CI_METRICS
        for end in ("low", "high")
    },
    "compose.n_tokens": MetricSpec(unit="positions", description="output predictions scored"),
    "compose.transformer_acc": MetricSpec(
        **_FRACTION, description="test top-1 accuracy at the output positions (via the bridge)"
    ),
    "compose.majority_acc": MetricSpec(
        unit="fraction", description="test accuracy of always answering the commonest output"
    ),
    "compose.min_acc_retained_delete": MetricSpec(
        **_FRACTION, description="worst single-layer deletion"
    ),
    "compose.mean_acc_retained_delete": MetricSpec(
        **_FRACTION, description="mean over single-layer deletions"
    ),
    "compose.mean_acc_retained_swap": MetricSpec(**_FRACTION, description="mean over swaps"),
    "compose.most_harmful_deletion": MetricSpec(
        unit="layer", description="layer whose deletion retains the least accuracy"
    ),
    "compose.first_decodable_layer": MetricSpec(
        unit="layer",
        description="first block whose output the lens decodes to decodable_ratio of the "
        "model's accuracy (-1: the embeddings already do)",
    ),
    "compose.first_decodable_depth": MetricSpec(
        unit="fraction", description="that residual entry / n_layers (0 = embeddings)"
    ),
    "compose.lens_acc_embed": MetricSpec(
        unit="fraction", description="lens accuracy of the embeddings (entry 0)"
    ),
    "compose.mips_solved": MetricSpec(
        higher_is_better=True, description="1 if MIPS's program is exact on the task (verified)"
    ),
    "compose.mips_hidden_dim": MetricSpec(
        unit="units", higher_is_better=False, description="hidden size of the smallest RNN"
    ),
    "compose.mips_program_lines": MetricSpec(
        unit="lines", higher_is_better=False, description="non-empty lines of the program"
    ),
    "compose.mips_rnn_accuracy": MetricSpec(
        unit="fraction", description="validation accuracy of MIPS's RNN"
    ),
    "compose.n_params": MetricSpec(unit="parameters", description="transformer parameters"),
    "compose.n_tasks": MetricSpec(unit="tasks", description="tasks in this run"),
    "compose.mean_transformer_acc": MetricSpec(
        **_FRACTION, description="mean transformer accuracy over tasks and seeds"
    ),
    "compose.n_mips_solved": MetricSpec(
        unit="tasks", higher_is_better=True, description="tasks MIPS solved"
    ),
}
