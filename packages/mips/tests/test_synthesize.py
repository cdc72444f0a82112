"""End to end: data in, a verified program out (fast tasks here; slower ones marked slow)."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from interplab.core.errors import ConfigError
from interplab.mips.pipeline import SynthesisConfig, synthesize, synthesize_task
from interplab.mips.rnn import TrainConfig
from interplab.mips.sequences import as_sequences
from interplab.mips.tasks import get_task
from interplab.mips.verify import run_program


def assert_equals_rule_everywhere(name: str, program: object, length: int) -> None:
    """The program equals the task's rule on every input sequence of ``length``."""
    task = get_task(name)
    batches = list(task.enumerate_inputs(length=length))
    x = np.concatenate(batches)
    expected = as_sequences(task.compute_outputs(x))
    got = run_program(program, as_sequences(x), expected.shape[2])  # type: ignore[arg-type]
    assert np.array_equal(got, expected)


def test_running_sum_is_read_off_a_linear_rnn_as_a_lattice_program() -> None:
    train, _ = get_task("Sum_All").splits(n=3000)
    result = synthesize(train.inputs, train.outputs, seed=0, time_budget_s=60, progress=False)
    assert result.solved and result.stage == "lattice:LR"
    assert (
        result.architecture is not None
        and result.architecture.describe() == "n=1 f=linear g=linear"
    )
    assert result.program is not None and result.source is not None
    x = np.random.default_rng(1).integers(0, 100, size=(200, 40))
    assert np.array_equal(
        run_program(result.program, as_sequences(x), 1)[..., 0], np.cumsum(x, axis=1)
    )
    assert "total = total + x" in result.source
    assert not [
        n for n in ast.walk(ast.parse(result.source)) if isinstance(n, ast.Import | ast.ImportFrom)
    ]
    assert set(result.timings) >= {"search", "simplify", "routes", "total"}


def test_xor_of_two_streams_is_found_by_the_bit_finder() -> None:
    train, _ = get_task("Bitwise_Xor").splits(n=2000)
    messages: list[str] = []
    result = synthesize(
        train.inputs, train.outputs, seed=0, time_budget_s=60, progress=messages.append
    )
    assert result.solved and result.stage is not None and result.stage.endswith(":BR")
    assert "a ^ b" in (result.source or "")
    assert_equals_rule_everywhere("Bitwise_Xor", result.program, 6)
    assert any(m.startswith("trained ") for m in messages)


def test_parity_of_the_last_two_bits_is_verified_on_the_whole_task() -> None:
    quick = SynthesisConfig(train=TrainConfig(max_steps=1500, patience=300))
    result = synthesize_task(
        get_task("Parity_Last2"), n_sequences=3000, seed=0, time_budget_s=90, progress=False,
        config=quick,
    )  # fmt: skip
    assert result.solved and result.verification is not None
    assert result.verification.exact_exhaustive is True and result.verification.n_exhaustive == 1024
    assert result.verification.exact_2x_length is True
    assert_equals_rule_everywhere("Parity_Last2", result.program, 12)
    assert result.program_lines < 20


def test_too_few_sequences_to_hold_out_are_refused() -> None:
    with pytest.raises(ConfigError, match="1 sequences leave nothing to train on"):
        synthesize(np.zeros((1, 4), np.int64), np.zeros((1, 4), np.int64), progress=False)


@pytest.mark.parametrize("budget", [0, -5, float("nan")])
def test_a_budget_that_is_not_positive_is_refused(budget: float) -> None:
    x = np.zeros((20, 4), np.int64)
    with pytest.raises(ConfigError, match=r"time_budget_s=.*pass a positive number"):
        synthesize(x, x, time_budget_s=budget, progress=False)


@pytest.mark.parametrize("value", [0, 7])
def test_a_constant_output_is_a_program_that_prints_the_constant(value: int) -> None:
    x = np.random.default_rng(7).integers(0, 5, (300, 6))
    result = synthesize(x, np.full_like(x, value), time_budget_s=10, progress=False)
    assert result.solved and result.stage == "window:LR"
    assert f"outputs.append({value})" in (result.source or "")
    new = np.random.default_rng(8).integers(-20, 20, (50, 9))
    assert (run_program(result.program, as_sequences(new), 1) == value).all()  # type: ignore[arg-type]


def test_sequences_of_length_one_are_solved() -> None:
    x = np.random.default_rng(7).integers(-50, 50, (2000, 1, 2))
    y = 2 * x[..., :1] - x[..., 1:] + 3
    result = synthesize(x, y, time_budget_s=10, progress=False)
    assert result.solved and result.program is not None
    new = np.random.default_rng(8).integers(-99, 99, (50, 1, 2))
    assert np.array_equal(run_program(result.program, new, 1), 2 * new[..., :1] - new[..., 1:] + 3)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Binary_Addition", "Prev2", "Add_Mod_3", "Newton_Spring"])
def test_paper_tasks_end_to_end(name: str) -> None:
    result = synthesize_task(
        get_task(name), n_sequences=6000, seed=0, time_budget_s=240, progress=False
    )
    assert result.solved, result.routes
    assert result.verification is not None and result.verification.exact_2x_length is not False
