"""``core.selftest``: a small deterministic computation that exercises the whole path.

It estimates pi by Monte Carlo: ``n_samples`` points uniform in the unit square (drawn from a
generator seeded with the run's seed, cached in the content-addressed cache), the fraction inside
the quarter circle times 4. It reports the estimate, its absolute error and the binomial standard
error, and a figure, so spec → runner → cache → records → store → report is tested before any
research package is installed. ``fail_with="error"`` raises on purpose, to see how failures are
stored; ``sleep_s`` makes it slow enough to interrupt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field

from interplab.core.analysis import Analysis, AnalysisConfig, RunContext
from interplab.core.hashing import digest_tensors
from interplab.core.records import ExperimentRecord, MetricSpec

__all__ = ["SelfTest", "SelfTestConfig"]


class SelfTestConfig(AnalysisConfig):
    """Config of ``core.selftest``."""

    n_samples: int = Field(default=100_000, ge=1, le=50_000_000)
    """Monte Carlo points used to estimate pi."""
    n_chunks: int = Field(default=10, ge=1, le=1000)
    """Points are counted in this many chunks (shows a progress bar)."""
    sleep_s: float = Field(default=0.0, ge=0.0)
    """Seconds to wait per chunk, to make the run slow enough to interrupt."""
    fail_with: Literal["nothing", "error"] = "nothing"
    """``error`` raises a RuntimeError on purpose, to exercise failure handling."""


class SelfTest(Analysis):
    """Estimate pi by Monte Carlo: a deterministic end-to-end check of the workbench."""

    name = "core.selftest"
    Config = SelfTestConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {
        "core.pi_estimate": MetricSpec(description="4 × fraction of points in the quarter circle"),
        "core.pi_abs_error": MetricSpec(higher_is_better=False, description="|estimate − π|"),
        "core.pi_std_error": MetricSpec(description="binomial standard error of the estimate"),
        "core.n_samples": MetricSpec(unit="points"),
    }

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        """Draw (cached) points, count those inside the quarter circle, plot them."""
        import torch

        assert isinstance(config, SelfTestConfig)
        points = ctx.cache.get_or_compute(
            {"what": "core.selftest/points", "n": config.n_samples, "seed": ctx.seed, "v": 1},
            lambda: torch.rand(
                config.n_samples, 2, generator=torch.Generator().manual_seed(ctx.seed)
            ),
        )
        inside = 0
        chunks = torch.tensor_split(points, config.n_chunks)
        for chunk in ctx.progress(chunks, total=len(chunks), description="counting points"):
            if config.sleep_s:
                time.sleep(config.sleep_s)
            inside += int(((chunk**2).sum(dim=1) <= 1.0).sum())
        if config.fail_with == "error":
            raise RuntimeError("core.selftest was asked to fail (fail_with='error')")
        fraction = inside / config.n_samples
        estimate = 4.0 * fraction
        std_error = 4.0 * math.sqrt(fraction * (1.0 - fraction) / config.n_samples)
        yield ctx.record(
            {
                "core.pi_estimate": estimate,
                "core.pi_abs_error": abs(estimate - math.pi),
                "core.pi_std_error": std_error,
                "core.n_samples": config.n_samples,
            },
            key="pi",
            inputs={"points": digest_tensors({"points": points})},
            artifacts={"points": ctx.figure(_plot(points), title="Monte Carlo points")},
        )


def _plot(points: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = points[:3000].numpy()
    inside = (shown**2).sum(axis=1) <= 1.0
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    ax.scatter(shown[inside, 0], shown[inside, 1], s=2, c="tab:blue", label="inside")
    ax.scatter(shown[~inside, 0], shown[~inside, 1], s=2, c="tab:orange", label="outside")
    ax.set_aspect("equal")
    ax.set(xlim=(0, 1), ylim=(0, 1), title=f"first {len(shown)} points")
    ax.legend(loc="lower left", fontsize=7)
    return fig
