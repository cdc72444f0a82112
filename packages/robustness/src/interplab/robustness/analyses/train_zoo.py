"""``robustness.train-zoo``: train (or fetch from cache) zoo models and report how good they are.

One record per model: held-out loss (nats) and top-1 accuracy, the unigram baseline's top-1,
training time and parameter count, with a figure of every model's training curve. The models
are the ones ``load_model("zoo:<name>")`` loads afterwards (same cache key), so running this
first trains the zoo for the other robustness analyses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from pydantic import Field, field_validator

from interplab.core.analysis import Analysis, AnalysisConfig, RunContext
from interplab.core.records import ExperimentRecord, MetricSpec

__all__ = ["TrainZoo", "TrainZooConfig"]


class TrainZooConfig(AnalysisConfig):
    """Config of ``robustness.train-zoo``."""

    models: list[str] = Field(default_factory=lambda: ["gpt2-2l", "gpt2-4l"], min_length=1)
    """Zoo names (``gpt2-4l``, ``neox-12l``, …; ``interplab.robustness.ZOO`` lists them)."""
    spec_overrides: dict[str, int | float] = Field(default_factory=dict)
    """Fields of every model's ``ZooSpec`` to change (e.g. ``{steps = 50}`` for a quick check);
    changed models are cached under their own key and are not what ``zoo:<name>`` loads."""

    @field_validator("models")
    @classmethod
    def _known_models(cls, names: list[str]) -> list[str]:
        from interplab.robustness.zoo import zoo_spec

        for name in names:
            zoo_spec(name)  # ConfigError (a ValueError) naming the zoo's models
        return names

    @field_validator("spec_overrides")
    @classmethod
    def _known_fields(cls, overrides: dict[str, int | float]) -> dict[str, int | float]:
        from interplab.robustness.zoo import ZOO

        next(iter(ZOO.values())).replace(**overrides)  # ConfigError on unknown or bad fields
        return overrides


class TrainZoo(Analysis):
    """Train the locally trained LM zoo and report held-out loss and top-1 accuracy per model."""

    name = "robustness.train-zoo"
    Config = TrainZooConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "robustness.heldout_loss": MetricSpec(
            unit="nats", higher_is_better=False, description="mean next-token cross-entropy"
        ),
        "robustness.heldout_top1": MetricSpec(
            unit="fraction", higher_is_better=True, description="next-token top-1 accuracy"
        ),
        "robustness.unigram_top1": MetricSpec(
            unit="fraction", description="top-1 of always predicting the most frequent token"
        ),
        "robustness.train_seconds": MetricSpec(unit="s", description="training wall time"),
        "robustness.n_params": MetricSpec(unit="parameters", description="model size"),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Train each model (cache hit: read it), plot the curves, one record per model."""
        from interplab.core.hashing import digest_file
        from interplab.robustness.zoo import read_zoo_card, train_zoo_model, zoo_spec

        assert isinstance(config, TrainZooConfig)
        trained = []
        for name in config.models:
            spec = zoo_spec(name).replace(**config.spec_overrides)
            folder = train_zoo_model(
                spec, cache=ctx.cache, device=ctx.device, progress=ctx.progress
            )
            trained.append((name, spec, folder, read_zoo_card(folder)))
        curves = ctx.figure(
            _plot_curves([(name, card) for name, _, _, card in trained]),
            title="zoo training curves (train loss, nats)",
        )
        for name, spec, folder, card in trained:
            heldout = card["heldout"]
            yield ctx.record(
                {
                    "robustness.heldout_loss": heldout["loss"],
                    "robustness.heldout_top1": heldout["top1"],
                    "robustness.unigram_top1": heldout["unigram_top1"],
                    "robustness.train_seconds": card["train_seconds"],
                    "robustness.n_params": card["n_params"],
                },
                key=name,
                params={"model": name, "family": spec.family, "n_layers": spec.n_layers},
                inputs={
                    "model": digest_file(folder / "model.safetensors"),
                    "corpus": card["corpus"],
                },
                artifacts={"training_curves": curves},
            )

    @classmethod
    def figures(cls, records: Sequence[ExperimentRecord]) -> list[tuple[str, bytes]]:
        """Held-out top-1 against depth, one line per family, unigram baseline dashed."""
        done = [r for r in records if r.status == "completed" and r.metrics]
        if not done:
            return []
        import io

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        for family in sorted({str(r.params.get("family")) for r in done}):
            points = sorted(
                (int(r.params["n_layers"]), r.metrics["robustness.heldout_top1"].value)
                for r in done
                if str(r.params.get("family")) == family
            )
            ax.plot(*zip(*points, strict=True), marker="o", label=family)
        baseline = max(r.metrics["robustness.unigram_top1"].value for r in done)
        ax.axhline(baseline, color="grey", linestyle="--", label="unigram baseline")
        ax.set(xlabel="layers", ylabel="held-out top-1", title="zoo: next-token accuracy")
        ax.legend(fontsize=7)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        return [("zoo: held-out top-1 by depth", buffer.getvalue())]


def _plot_curves(cards: list[tuple[str, dict[str, Any]]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    for name, card in cards:
        steps = [point["step"] for point in card["curve"]]
        losses = [point["loss"] for point in card["curve"]]
        ax.plot(steps, losses, label=f"{name} (held-out {card['heldout']['loss']:.2f})")
    ax.set(xlabel="step", ylabel="train loss (nats)", title="zoo training curves")
    ax.legend(fontsize=7)
    return fig
