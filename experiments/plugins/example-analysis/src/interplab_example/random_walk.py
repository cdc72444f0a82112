"""``example.random-walk``: mean squared displacement of simple random walks.

A walk takes ``n_steps`` steps of ±1. Its squared end point has expectation ``n_steps`` exactly,
so the analysis can be checked against the closed form: a small, real plugin that shows every
part of the contract (config, metric specs, seeded randomness, the cache, a figure, records).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from interplab.core.analysis import Analysis, AnalysisConfig, RunContext
from interplab.core.records import ExperimentRecord, MetricSpec

__all__ = ["RandomWalk", "RandomWalkConfig"]


class RandomWalkConfig(AnalysisConfig):
    """Config of ``example.random-walk``."""

    n_steps: int = Field(default=100, ge=1, le=1_000_000)
    """Steps per walk."""
    n_walks: int = Field(default=2_000, ge=2, le=1_000_000)
    """Walks averaged."""


def squared_displacements(n_steps: int, n_walks: int, seed: int) -> np.ndarray:
    """float64 ``(n_walks,)``: squared end points of ``n_walks`` seeded ±1 walks."""
    rng = np.random.default_rng(seed)
    ends = 2 * rng.binomial(n_steps, 0.5, size=n_walks) - n_steps
    return ends.astype(np.float64) ** 2


class RandomWalk(Analysis):
    """Mean squared displacement of ±1 random walks against the closed form E[x²] = n."""

    name = "example.random-walk"
    Config = RandomWalkConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "example.msd": MetricSpec(unit="steps²", description="mean squared end point"),
        "example.msd_theory": MetricSpec(unit="steps²", description="E[x²] = n_steps"),
        "example.rel_error": MetricSpec(
            higher_is_better=False, description="|msd − theory| / theory"
        ),
        "example.z_score": MetricSpec(description="(msd − theory) / standard error"),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Simulate (cached by config and seed), compare with the theory, plot a few walks."""
        import matplotlib.pyplot as plt

        assert isinstance(config, RandomWalkConfig)
        key = {"what": "example.random-walk", **config.model_dump(), "seed": ctx.seed, "v": 1}
        squares = ctx.cache.get_or_compute(
            key, lambda: squared_displacements(config.n_steps, config.n_walks, ctx.seed)
        )
        msd = float(np.mean(squares))
        stderr = float(np.std(squares, ddof=1) / np.sqrt(len(squares)))
        fig, ax = plt.subplots(figsize=(5, 3))
        rng = np.random.default_rng(ctx.seed)
        for _ in range(5):
            ax.plot(np.cumsum(rng.choice([-1, 1], size=min(config.n_steps, 2000))), lw=0.8)
        ax.set(xlabel="step", ylabel="position", title=f"{config.n_steps} steps")
        yield ctx.record(
            {
                "example.msd": msd,
                "example.msd_theory": float(config.n_steps),
                "example.rel_error": abs(msd - config.n_steps) / config.n_steps,
                "example.z_score": (msd - config.n_steps) / stderr if stderr > 0 else 0.0,
            },
            key=f"n{config.n_steps}",
            artifacts={"walks": ctx.figure(fig, title="five walks")},
        )
