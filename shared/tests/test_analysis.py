"""The analysis contract: RunContext.record, figures and artifacts, and core.selftest end to end."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
import torch

from interplab.core.cache import Cache
from interplab.core.errors import ConfigError
from interplab.core.records import Artifact, Environment, ExperimentRecord, Metric, MetricSpec
from interplab.core.selftest import SelfTest, SelfTestConfig

matplotlib.use("Agg")

import matplotlib.pyplot as plt

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENV = Environment(python="3.11.7", platform="linux", device="cpu", seed=5)
SPECS = {
    "core.loss": MetricSpec(unit="nats", higher_is_better=False, description="loss"),
    "core.accuracy": MetricSpec(unit="fraction", higher_is_better=True),
}


def _context(tmp_path: Path, **overrides: Any) -> Any:
    from interplab.core.analysis import RunContext

    fields: dict[str, Any] = {
        "run_id": "0123456789abcdef",
        "analysis": "core.example",
        "package": "core",
        "params": {"n": 3, "model": {"name": "tiny"}},
        "seed": 5,
        "device": torch.device("cpu"),
        "cache": Cache(tmp_path / "cache"),
        "env": ENV,
        "metric_specs": SPECS,
        "experiment": "exp",
        "tags": ("base", "shared"),
    }
    fields.update(overrides)
    return RunContext(**fields)


# ------------------------------------------------------------------ records


def test_record_fills_identity_params_env_and_tags(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    before = datetime.now(UTC)
    record = ctx.record(
        {"core.loss": 0.25},
        key="delete L3/head#2",
        params={"layer": 3},
        inputs={"model": "a" * 64},
        tags=("shared", "extra"),
        parent_id="parent-1",
    )
    assert isinstance(record, ExperimentRecord)
    assert record.id == "0123456789abcdef-delete_L3_head_2"
    assert record.run_id == "0123456789abcdef"
    assert (record.package, record.analysis, record.status) == ("core", "core.example", "completed")
    assert record.params == {"n": 3, "model": {"name": "tiny"}, "layer": 3}
    assert record.inputs == {"model": "a" * 64}
    assert record.env == ENV
    assert record.experiment == "exp"
    assert record.parent_id == "parent-1"
    assert record.tags == ("base", "shared", "extra")
    assert record.started_at == ctx.started_at
    assert record.finished_at is not None
    assert before <= record.finished_at <= datetime.now(UTC)
    assert record.artifacts == {}
    assert ctx.params == {"n": 3, "model": {"name": "tiny"}}  # the run's params are not changed


def test_record_keys_default_to_a_counter(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    ids = [
        ctx.record({"core.loss": 1.0}).id,
        ctx.record({"core.loss": 1.0}, key="named.key-1").id,
        ctx.record({"core.loss": 1.0}).id,
    ]
    assert ids == [
        "0123456789abcdef-0000",
        "0123456789abcdef-named.key-1",
        "0123456789abcdef-0002",
    ]


def test_bare_numbers_take_the_declared_spec(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    given = Metric(value=2.0, unit="s", higher_is_better=None)
    record = ctx.record({"core.loss": 0.5, "core.accuracy": 1, "core.time": given})
    assert record.metrics["core.loss"] == Metric(
        value=0.5, unit="nats", higher_is_better=False, description="loss"
    )
    accuracy = record.metrics["core.accuracy"]
    assert (accuracy.value, accuracy.unit, accuracy.higher_is_better) == (1.0, "fraction", True)
    assert isinstance(accuracy.value, float)
    assert record.metrics["core.time"] == given  # a Metric is used as given


def test_bare_number_for_an_undeclared_metric_raises(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    with pytest.raises(ConfigError, match=r"metric 'core\.surprise' of 'core\.example'"):
        ctx.record({"core.loss": 1.0, "core.surprise": 3.0})


def test_figure_is_stored_as_a_png_blob(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [1, 0, 1])
    number = fig.number

    artifact = ctx.figure(fig, title="a line")
    data = ctx.cache.read_blob(artifact.sha256)
    assert data is not None
    assert data.startswith(PNG_SIGNATURE)
    assert artifact == Artifact(
        sha256=hashlib.sha256(data).hexdigest(),
        media_type="image/png",
        size_bytes=len(data),
        title="a line",
    )
    assert not plt.fignum_exists(number)  # the figure was closed

    record = ctx.record({"core.loss": 1.0}, artifacts={"plot": artifact})
    assert record.artifacts == {"plot": artifact}


def test_artifact_stores_bytes(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    data = b'{"rows": [1, 2, 3]}'
    artifact = ctx.artifact(data, media_type="application/json", title="table")
    assert artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert (artifact.media_type, artifact.size_bytes, artifact.title) == (
        "application/json",
        len(data),
        "table",
    )
    assert ctx.cache.blob_path(artifact.sha256).read_bytes() == data


# ------------------------------------------------------------------ core.selftest


class RecordingProgress:
    def __init__(self) -> None:
        self.calls: list[tuple[int | None, str]] = []

    def __call__(
        self, iterable: Iterable[Any], total: int | None = None, description: str = ""
    ) -> Iterator[Any]:
        self.calls.append((total, description))
        yield from iterable


def _selftest_context(tmp_path: Path, seed: int, progress: Any = None) -> Any:
    config = SelfTestConfig(n_samples=5000, n_chunks=7)
    extra = {"progress": progress} if progress is not None else {}
    return config, _context(
        tmp_path,
        run_id="selftest-run",
        analysis=SelfTest.name,
        package=SelfTest.package(),
        params=config.model_dump(mode="json"),
        seed=seed,
        metric_specs=SelfTest.metrics,
        **extra,
    )


def test_selftest_estimates_pi_from_its_seeded_points(tmp_path: Path) -> None:
    seed, n = 11, 5000
    progress = RecordingProgress()
    config, ctx = _selftest_context(tmp_path, seed, progress)
    (record,) = list(SelfTest().run(config, ctx))

    points = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed)).numpy()
    inside = (points.astype(np.float32) ** 2).sum(axis=1) <= np.float32(1.0)
    fraction = float(inside.mean())
    estimate = 4.0 * fraction
    metrics = record.metrics
    assert metrics["core.pi_estimate"].value == pytest.approx(estimate, rel=0, abs=1e-12)
    assert metrics["core.pi_abs_error"].value == pytest.approx(abs(estimate - math.pi), abs=1e-12)
    assert metrics["core.pi_std_error"].value == pytest.approx(
        4.0 * math.sqrt(fraction * (1 - fraction) / n), abs=1e-12
    )
    assert metrics["core.n_samples"] == Metric(value=n, unit="points")
    assert metrics["core.pi_abs_error"].higher_is_better is False
    assert abs(estimate - math.pi) < 5 * metrics["core.pi_std_error"].value  # a sane estimate

    assert record.id == "selftest-run-pi"
    assert record.params == config.model_dump(mode="json")
    sha = hashlib.sha256(f"points|float32|{(n, 2)}|".encode() + points.tobytes()).hexdigest()
    assert record.inputs == {"points": sha}
    png = ctx.cache.read_blob(record.artifacts["points"].sha256)
    assert png is not None and png.startswith(PNG_SIGNATURE)
    assert progress.calls == [(7, "counting points")]


def test_selftest_caches_its_points(tmp_path: Path) -> None:
    config, ctx = _selftest_context(tmp_path, seed=2)
    (first,) = list(SelfTest().run(config, ctx))
    assert (ctx.cache.stats.misses, ctx.cache.stats.hits) == (1, 0)
    cached = ctx.cache.get({"what": "core.selftest/points", "n": 5000, "seed": 2, "v": 1})
    expected = torch.rand(5000, 2, generator=torch.Generator().manual_seed(2))
    assert torch.equal(cached, expected)

    (second,) = list(SelfTest().run(config, ctx))
    assert (ctx.cache.stats.misses, ctx.cache.stats.hits) == (1, 1)  # get() does not count
    assert second.metrics == first.metrics
    assert second.inputs == first.inputs

    _, other_seed = _selftest_context(tmp_path, seed=3)
    (third,) = list(SelfTest().run(config, other_seed))
    assert third.inputs != first.inputs


def test_selftest_fails_on_request(tmp_path: Path) -> None:
    _, ctx = _selftest_context(tmp_path, seed=0)
    config = SelfTestConfig(n_samples=100, fail_with="error")
    with pytest.raises(RuntimeError, match=r"fail_with='error'"):
        list(SelfTest().run(config, ctx))


def test_a_boolean_is_not_taken_for_a_number() -> None:
    """pydantic reads true as 1: ``n_samples = true`` would run with one sample."""
    from pydantic import ValidationError

    from interplab.core.analysis import AnalysisConfig

    class Config(AnalysisConfig):
        n: int = 1
        x: float | None = None
        flag: bool = False
        either: bool | int = 0

    with pytest.raises(ValidationError, match=r"n\n.*a number is expected, not true/false"):
        Config(n=True)
    with pytest.raises(ValidationError, match=r"x\n.*a number is expected"):
        Config(x=False)
    assert Config(n=3, x=0.5, flag=True, either=True) == Config(n=3, x=0.5, flag=True, either=True)
    assert Config(flag=True).flag is True and Config(either=True).either is True
