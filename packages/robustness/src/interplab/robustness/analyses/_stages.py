"""What the stage analyses share: one or several models per run, record keys and input digests."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import model_validator

from interplab.core.analysis import AnalysisConfig, RunContext
from interplab.core.records import Artifact
from interplab.robustness.analyses._inputs import (
    ModelTokensConfig,
    input_digests,
    load_model_and_tokens,
)

__all__ = [
    "ModelsConfig",
    "StageConfig",
    "csv_artifact",
    "each_model",
    "each_model_and_tokens",
    "finite",
    "png",
    "slug",
]


def _check_models(config: Any) -> None:
    # The runner re-validates the dumped config, so every field looks explicitly set: a `model`
    # other than the default that `models` does not list is the only detectable conflict.
    default = type(config).model_fields["model"].default
    if config.models and config.model != default and config.model not in config.models:
        raise ValueError(
            f"give either `model` ({config.model!r}) or `models` ({list(config.models)}), "
            "not both; put every model in `models`."
        )
    if len(set(config.models)) != len(config.models):
        raise ValueError(f"`models` lists a model twice: {list(config.models)}.")


class StageConfig(ModelTokensConfig):
    """A model (or several) and the tokens to run them on."""

    models: tuple[str, ...] = ()
    """Several models in one run, drawn together (one line each); replaces `model`."""

    @model_validator(mode="after")
    def _model_or_models(self) -> StageConfig:
        _check_models(self)
        return self

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models to analyse."""
        return self.models or (self.model,)


class ModelsConfig(AnalysisConfig):
    """A model (or several), no tokens."""

    model: str = "zoo:gpt2-4l"
    """A zoo name (``zoo:<name>``), a local save_pretrained directory or a Hugging Face id."""
    models: tuple[str, ...] = ()
    """Several models in one run, drawn together (one line each); replaces `model`."""

    @model_validator(mode="after")
    def _model_or_models(self) -> ModelsConfig:
        _check_models(self)
        return self

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models to analyse."""
        return self.models or (self.model,)


def slug(text: str) -> str:
    """A record-key-safe short form of a model name."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text.removeprefix("zoo:")).strip("_")[-60:]


def each_model_and_tokens(
    config: StageConfig, ctx: RunContext
) -> Iterator[tuple[str, Any, Any, dict[str, str]]]:
    """``(name, model, tokens, inputs)`` for every model of ``config``, one at a time."""
    for name in config.model_names:
        one = config.model_copy(update={"model": name, "models": ()})
        model, tokens = load_model_and_tokens(one, ctx)
        yield name, model, tokens, input_digests(model, tokens)


def each_model(config: ModelsConfig, ctx: RunContext) -> Iterator[tuple[str, Any, dict[str, str]]]:
    """``(name, model, inputs)`` for every model of ``config``, one at a time."""
    from interplab.robustness.models import load_model

    for name in config.model_names:
        model = load_model(name, device=ctx.device, cache=ctx.cache, progress=ctx.progress)
        yield name, model, input_digests(model)


def finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``metrics`` as floats, leaving out nan and inf (a record holds finite values only)."""
    return {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}


def csv_artifact(ctx: RunContext, rows: list[str], *, title: str = "table") -> Artifact:
    """Lines of CSV (header first) stored as a ``text/csv`` artifact."""
    return ctx.artifact(("\n".join(rows) + "\n").encode(), media_type="text/csv", title=title)


def png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
