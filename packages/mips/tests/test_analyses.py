"""The ``mips.synthesize`` analysis: one record per task, the program as an artifact, caching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from interplab.core.analysis import RunContext
from interplab.core.cache import Cache
from interplab.core.records import Environment
from interplab.mips.analyses import MipsSynthesis, MipsSynthesisConfig


def context(tmp_path: Path, config: MipsSynthesisConfig) -> RunContext:
    return RunContext(
        run_id="mips-test",
        analysis=MipsSynthesis.name,
        package=MipsSynthesis.package(),
        params=config.model_dump(mode="json"),
        seed=0,
        device=torch.device("cpu"),
        cache=Cache(tmp_path / "cache"),
        env=Environment(python="3.11", platform="linux", device="cpu", seed=0),
        metric_specs=MipsSynthesis.metrics,
    )


def test_one_record_per_task_with_the_program_attached(tmp_path: Path) -> None:
    config = MipsSynthesisConfig(task="Bitwise_Not,Sum_All", n_train=1500, time_budget_s=60)
    ctx = context(tmp_path, config)
    records = list(MipsSynthesis().run(config, ctx))
    assert [r.params["task"] for r in records] == ["Bitwise_Not", "Sum_All"]
    for record in records:
        metrics: dict[str, Any] = {k: m.value for k, m in record.metrics.items()}
        assert metrics["mips.solved"] == 1.0 and metrics["mips.exact_test"] == 1.0
        assert metrics["mips.hidden_dim"] == 1.0 and metrics["mips.program_lines"] > 3
        assert record.metrics["mips.solved"].higher_is_better is True
        assert record.params["stage"].startswith(("lattice:", "bits:", "fsm:"))
        artifact = record.artifacts["program"]
        assert artifact.media_type == "text/x-python"
        source = (ctx.cache.read_blob(artifact.sha256) or b"").decode()
        assert "def program(seq):" in source
    assert records[0].metrics["mips.exact_exhaustive"].value == 1.0
    assert "mips.exact_exhaustive" not in records[1].metrics  # 100**10 inputs: not enumerated
    assert ctx.cache.stats.hits == 0
    printed = MipsSynthesis.console_summary(records, ctx.cache) or ""
    assert printed.count("def program(seq):") == 2 and "# Sum_All: solved" in printed
    ctx_again = context(tmp_path, config)
    again = list(MipsSynthesis().run(config, ctx_again))
    assert [r.metrics["mips.solved"].value for r in again] == [1.0, 1.0]
    assert ctx_again.cache.stats.hits == 2  # the pipeline did not run again


def test_unknown_task_names_fail_with_a_suggestion_when_the_config_is_made() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="Did you mean 'Sum_All'"):
        MipsSynthesisConfig(task="Sum_Al")
    with pytest.raises(ValidationError, match="No MIPS task is named 'Nope'"):
        MipsSynthesisConfig(task="Prev1, Nope")
    assert MipsSynthesisConfig(task="prev1").task == "prev1"  # kept as given: run ids stay


def test_simplify_steps_reach_the_pipeline_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    config = MipsSynthesisConfig(
        task="Bitwise_Not", n_train=500, time_budget_s=30, simplify_steps=("debias", "quantize")
    )
    (record,) = list(MipsSynthesis().run(config, context(tmp_path, config)))
    steps = record.params["simplification"]
    assert [s.split(":")[0] for s in steps] == ["debias", "quantize"]
    with pytest.raises(ValueError, match="unknown simplifier 'hammer'; use some of"):
        MipsSynthesisConfig(simplify_steps=("whiten", "hammer"))
