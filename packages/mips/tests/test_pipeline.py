"""The pipeline module: its exports, the capped route checks, the closed-form log line."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from interplab.core.errors import ConfigError
from interplab.mips import pipeline
from interplab.mips.pipeline import SynthesisConfig, check_sample, synthesize
from interplab.mips.tasks import get_task


def test_synthesize_from_the_package_stays_the_function_after_its_module_is_imported() -> None:
    """A submodule named like the function (the old ``synthesize.py``) replaced the function by
    the module as soon as it was imported; the pipeline lives in ``pipeline.py`` now."""
    importlib.import_module("interplab.mips.pipeline")  # sets the package attribute `pipeline`
    import interplab.mips
    from interplab.mips import DEFAULT_STEPS
    from interplab.mips import SynthesisConfig as New
    from interplab.mips import synthesize as exported

    assert New is SynthesisConfig and exported is synthesize is interplab.mips.synthesize
    assert New(simplify_steps=("l1", *DEFAULT_STEPS)).simplify_steps[0] == "l1"
    with pytest.raises(ConfigError, match="time_budget_s=0"):
        exported(np.zeros((20, 4), np.int64), np.zeros((20, 4), np.int64), time_budget_s=0)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("interplab.mips.synthesize")


def test_check_sample_is_every_sequence_up_to_the_limit_then_evenly_spaced() -> None:
    x = np.arange(10)[:, None, None]
    assert check_sample(x, x + 1, 10)[0] is x
    sample, paired = check_sample(x, x + 1, 4)
    assert sample[:, 0, 0].tolist() == [0, 3, 6, 9]
    assert np.array_equal(paired, sample + 1)
    with pytest.raises(ConfigError, match="max_check_sequences=0"):
        check_sample(x, x, 0)


def _recording(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Record how many sequences each call of ``pipeline.<name>`` gets."""
    seen: list[int] = []
    original = getattr(pipeline, name)

    def wrapper(program: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(inputs))
        return original(program, inputs, *args, **kwargs)

    monkeypatch.setattr(pipeline, name, wrapper)
    return seen


def test_routes_are_compared_on_a_sample_and_only_the_chosen_program_on_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked = _recording(monkeypatch, "count_mismatches")
    windowed = _recording(monkeypatch, "window_route")
    train, _ = get_task("Prev1").splits(n=60_000)
    config = SynthesisConfig(
        routes=("window", "fsm"), max_check_sequences=3000, max_window_sequences=2000
    )
    messages: list[str] = []
    result = synthesize(
        train.inputs, train.outputs, time_budget_s=60, progress=messages.append, config=config
    )
    assert result.solved and result.stage is not None and result.stage.startswith("window")
    assert windowed == [2000]
    n_all = len(train.inputs)  # the search's held-out tenth included
    assert checked[-1] == n_all and checked.count(n_all) == 1
    assert set(checked[:-1]) == {3000}
    assert "check" in result.timings
    assert any("fitted n=2 f=linear g=linear in closed form" in m for m in messages), messages


def _candidate(rank: int, program: Any) -> Any:
    route = pipeline.RouteResult("lattice")
    return pipeline._Candidate((0, rank, 0), route, "", program)


def test_a_program_exact_on_the_sample_but_not_on_all_data_gives_way_to_the_next() -> None:
    x = np.arange(10)[:, None, None]
    data = pipeline._RouteData(x, x, x, x, x[:5], x[:5], x, x)
    wrong_late = _candidate(0, lambda seq: [0] if seq[0] >= 5 else seq)
    right = _candidate(1, lambda seq: seq)
    chosen = pipeline._choose([right, wrong_late], data, lambda message: None)
    assert chosen is right and wrong_late.exact_on_all is False
