"""interplab.mips.tasks: the 62 specs, generation, splits, length override and enumeration."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from interplab.core.errors import ConfigError, ShapeError
from interplab.mips import tasks as tasks_module
from interplab.mips.tasks import Task, all_tasks, get_task, list_tasks

JSON_PATH = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "mips_tasks.json"
TASKS = all_tasks()
NAMES = [task.name for task in TASKS]


def rule_input(task: Task, row: np.ndarray) -> list[Any]:
    """One stored input sequence as the plain rule takes it: ints, or tuples when d_in > 1."""
    values = row.reshape(row.shape[0], task.spec.input_dims).tolist()
    return [v[0] for v in values] if task.spec.input_dims == 1 else [tuple(v) for v in values]


def rule_output(task: Task, row: np.ndarray) -> list[Any]:
    values = row.reshape(row.shape[0], task.spec.output_dims).tolist()
    return [v[0] for v in values] if task.spec.output_dims == 1 else [tuple(v) for v in values]


# --- registry ---------------------------------------------------------------------------------


def test_sixty_two_tasks_in_index_order() -> None:
    assert len(list_tasks()) == 62
    assert [task.spec.index for task in TASKS] == list(range(1, 63))
    assert list_tasks() == NAMES
    assert list_tasks()[:3] == ["Binary_Addition", "Base_3_Addition", "Base_4_Addition"]
    assert list_tasks()[-1] == "Newton_Magnetic"


def test_solved_totals_match_the_abstract() -> None:
    mips = {t.name for t in TASKS if t.spec.mips_solved}
    gpt4 = {t.name for t in TASKS if t.spec.gpt4_solved}
    assert (len(mips), len(gpt4), len(mips & gpt4), len(mips - gpt4)) == (32, 30, 19, 13)


def test_get_task_is_case_insensitive() -> None:
    assert get_task("BINARY_ADDITION") is get_task("binary_addition") is TASKS[0]
    assert get_task("prev1").name == "Prev1"


def test_get_task_unknown_name_suggests_a_close_match() -> None:
    with pytest.raises(ConfigError, match=r"'Binary_Adition'.*Did you mean 'Binary_Addition'"):
        get_task("Binary_Adition")
    with pytest.raises(ConfigError, match=r"No MIPS task is named 'zzz'\. `interplab mips tasks`"):
        get_task("zzz")
    with pytest.raises(ConfigError, match=r"Task name 3 is not a string"):
        get_task(3)  # type: ignore[arg-type]


def test_public_names_are_sorted_and_exported() -> None:
    assert list(tasks_module.__all__) == sorted(tasks_module.__all__)
    public = {n for n in dir(tasks_module) if not n.startswith("_")}
    assert set(tasks_module.__all__) <= public


def test_spec_rejects_a_non_integer_dtype() -> None:
    with pytest.raises(ConfigError, match=r"x_dtype='float32' is not allowed"):
        dataclasses.replace(TASKS[0].spec, x_dtype="float32")


@pytest.mark.skipif(not JSON_PATH.is_file(), reason=f"reference JSON not found at {JSON_PATH}")
def test_encoded_specs_match_the_reference_json() -> None:
    entries = json.loads(JSON_PATH.read_text())
    assert [e["name"] for e in entries] == NAMES
    for task, entry in zip(TASKS, entries, strict=True):
        spec, inp, out, data = task.spec, entry["input"], entry["output"], entry["dataset"]
        expected = {
            "index": entry["index"],
            "repo_task_dir": entry["repo_task_dir"],
            "description": entry["description"],
            "rule_text": entry["rule"],
            "boundary_convention": entry["boundary_convention"],
            "input_element_type": inp["element_type"],
            "input_dims": inp["dims"],
            "input_min": inp["min"],
            "input_max": inp["max"],
            "distribution": inp["distribution"],
            "seq_len": inp["seq_len"],
            "output_dims": out["dims"],
            "output_type": out["type"],
            "output_note": out.get("note"),
            "train_fraction": data["train_fraction"],
            "seed": data["seed"],
            "x_dtype": data["x_tensor_dtype"],
            "y_dtype": data["y_tensor_dtype"],
            "x_shape": tuple(data["x_shape_per_sequence"]),
            "y_shape": tuple(data["y_shape_per_sequence"]),
            "mips_solved": entry["mips_solved"],
            "gpt4_solved": entry["gpt4_solved"],
            "pipeline_branch_hidden_dim": entry["pipeline_branch_hidden_dim"],
        }
        for field, value in expected.items():
            assert getattr(spec, field) == value, (spec.name, field)
        json_range = out.get("range")
        if json_range is None:
            assert spec.output_range is None, spec.name
        elif isinstance(json_range[1], str):  # Evens_Counter: [0, "t+1 (max 10)"]
            assert spec.output_range == (json_range[0], spec.seq_len), spec.name
        else:
            assert spec.output_range == tuple(json_range), spec.name
        if isinstance(data["n_sequences"], int):
            assert spec.n_sequences == data["n_sequences"] and not spec.is_deduplicated
        else:  # "about 1000000 (after de-duplication)"
            assert spec.n_sequences == 1_000_000 and spec.is_deduplicated


# --- generation -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_generated_outputs_follow_the_plain_rule(name: str) -> None:
    task = get_task(name)
    data = task.generate(200, seed=7)
    assert data.name == name
    assert data.inputs.dtype == np.dtype(task.spec.x_dtype)
    assert data.outputs.dtype == np.dtype(task.spec.y_dtype)
    assert data.outputs.shape[1:] == task.spec.y_shape
    if not task.spec.is_deduplicated:
        assert data.inputs.shape == (200, *task.spec.x_shape)
    assert data.inputs.min() >= task.spec.input_min and data.inputs.max() <= task.spec.input_max
    low, high = task.output_bounds()
    assert low <= data.outputs.min() and data.outputs.max() <= high
    if task.spec.output_range is not None:
        assert task.output_bounds() == task.spec.output_range
    for x_row, y_row in zip(data.inputs, data.outputs, strict=True):
        assert task.rule(rule_input(task, x_row)) == rule_output(task, y_row)


@pytest.mark.parametrize("name", NAMES)
def test_length_override_keeps_the_rule(name: str) -> None:
    task = get_task(name)
    length = 2 * task.spec.seq_len
    data = task.generate(60, seed=3, length=length)
    assert data.inputs.shape[1:] == task.spec.x_shape_at(length)
    assert data.outputs.shape[1:] == task.spec.y_shape_at(length)
    low, high = task.output_bounds(length)
    assert low <= data.outputs.min() and data.outputs.max() <= high
    np.testing.assert_array_equal(task.apply_rule(data.inputs), data.outputs)
    np.testing.assert_array_equal(task.compute_outputs(data.inputs), data.outputs)


@pytest.mark.parametrize("name", ["Binary_Addition", "Sum_Last5", "Div_3", "Newton_Magnetic"])
def test_generation_is_deterministic_by_seed(name: str) -> None:
    task = get_task(name)
    first, again, other = (task.generate(50, seed=s) for s in (11, 11, 12))
    np.testing.assert_array_equal(first.inputs, again.inputs)
    np.testing.assert_array_equal(first.outputs, again.outputs)
    assert not np.array_equal(first.inputs, other.inputs)


def test_generate_rejects_bad_arguments() -> None:
    task = get_task("Prev1")
    with pytest.raises(ConfigError, match=r"n=0 is not allowed for Prev1"):
        task.generate(0, seed=0)
    with pytest.raises(ConfigError, match=r"seed=-1 is not allowed"):
        task.generate(5, seed=-1)
    with pytest.raises(ConfigError, match=r"length=0 is not allowed for Prev1; pass an int >= 1"):
        task.generate(5, seed=0, length=0)
    with pytest.raises(ConfigError, match=r"length=1 is not allowed for Bit_Palindrome"):
        get_task("Bit_Palindrome").generate(5, seed=0, length=1)


def test_overflowing_length_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"length=400 lets Sum_All outputs reach 0\.\.39600"):
        get_task("Sum_All").generate(5, seed=0, length=400)


def test_bounds_grow_with_length_where_the_rule_accumulates() -> None:
    assert get_task("Sum_All").output_bounds(20) == (0, 1980)
    assert get_task("Evens_Counter").output_bounds(20) == (0, 20)
    assert get_task("Sum_Last3").output_bounds(20) == (0, 297)
    # Newton: exact extremes of the affine recurrences; 10 * (1 + ... + 10) = 550.
    assert get_task("Newton_Freebody").output_bounds() == (-550, 550)
    assert get_task("Newton_Gravity").output_bounds() == (-605, 495)  # x - 1 in -11..9


def test_bit_palindrome_sequences_start_with_a_palindrome() -> None:
    task = get_task("Bit_Palindrome")
    data = task.generate(5000, seed=0, length=4)
    # Some prefix of length >= 2 is a palindrome, so some y_t with t >= 1 is 1.
    assert data.outputs[:, 1:].any(axis=1).all()
    seen = {tuple(row) for row in data.inputs.tolist()}
    assert seen == {tuple(row) for row in np.concatenate(list(task.enumerate_inputs(4))).tolist()}
    assert (0, 1, 1, 1) not in seen and (1, 0, 0, 0) not in seen


def test_previous_equals_current_rows_are_unique_and_shuffled() -> None:
    task = get_task("Previous_Equals_Current")
    data = task.generate(2000, seed=0, length=2)  # 8**2 = 64 possible rows
    assert len(data) == 64
    assert len({tuple(row) for row in data.inputs.tolist()}) == 64
    assert not np.array_equal(data.inputs, np.unique(data.inputs, axis=0))


# --- splits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Binary_Addition", "Add_Mod_3", "Newton_Spring", "Prev5"])
def test_splits_slice_one_draw_by_train_fraction(name: str) -> None:
    task = get_task(name)
    train, test = task.splits(seed=5, n=1000)
    n_train = round(1000 * task.spec.train_fraction)
    assert (len(train), len(test)) == (n_train, 1000 - n_train)
    whole = task.generate(1000, seed=5)
    np.testing.assert_array_equal(np.concatenate([train.inputs, test.inputs]), whole.inputs)
    np.testing.assert_array_equal(np.concatenate([train.outputs, test.outputs]), whole.outputs)


def test_splits_default_to_the_benchmark_seed() -> None:
    task = get_task("Parity_All")
    default_train, _ = task.splits(n=100)
    seeded_train, _ = task.splits(seed=42, n=100)
    np.testing.assert_array_equal(default_train.inputs, seeded_train.inputs)


def test_splits_of_a_deduplicated_task_use_the_unique_count() -> None:
    train, test = get_task("Previous_Equals_Current").splits(n=10_000)
    n = len(train) + len(test)
    assert n <= 10_000 and len(train) == int(n * 0.9)


def test_splits_refuse_an_empty_side() -> None:
    with pytest.raises(ConfigError, match=r"n=1 .* empty train or test set; use a larger n"):
        get_task("Prev1").splits(n=1)


# --- enumeration ------------------------------------------------------------------------------


def test_eighteen_tasks_are_enumerable_at_their_length() -> None:
    small = [t.name for t in TASKS if t.input_space_size() <= 10**6]
    assert len(small) == 18
    assert "Majority_0_2" in small and "Add_Mod_3" in small
    assert get_task("Binary_Addition").input_space_size() == 4**10
    assert get_task("Bit_Palindrome").input_space_size() == 2**10 - 2


def small_length(task: Task, limit: int = 5000) -> int:
    length = 2 if task.name == "Bit_Palindrome" else 1
    while task.input_space_size(length + 1) <= limit:
        length += 1
    return length


@pytest.mark.parametrize("name", NAMES)
def test_enumeration_covers_the_input_space_and_the_rules_agree(name: str) -> None:
    task = get_task(name)
    length = small_length(task)
    batches = list(task.enumerate_inputs(length, batch_size=1000))
    inputs = np.concatenate(batches)
    assert inputs.shape == (task.input_space_size(length), *task.spec.x_shape_at(length))
    assert inputs.dtype == np.dtype(task.spec.x_dtype)
    assert len(np.unique(inputs.reshape(len(inputs), -1), axis=0)) == len(inputs)
    # The vectorised generator rule and the plain reference rule agree on every input.
    np.testing.assert_array_equal(task.compute_outputs(inputs), task.apply_rule(inputs))


@pytest.mark.parametrize("name", [t.name for t in TASKS if t.input_space_size() <= 10**6])
def test_full_length_enumeration_of_small_tasks(name: str) -> None:
    task = get_task(name)
    inputs = np.concatenate(list(task.enumerate_inputs()))
    assert len(inputs) == task.input_space_size()
    np.testing.assert_array_equal(task.compute_outputs(inputs), task.apply_rule(inputs))


def test_enumeration_refuses_large_spaces() -> None:
    task = get_task("Binary_Addition")
    with pytest.raises(ConfigError, match=r"1048576 input sequences .* max_size=1000000"):
        next(task.enumerate_inputs())
    first = next(task.enumerate_inputs(max_size=4**10, batch_size=4))
    np.testing.assert_array_equal(first[:, -1], [[0, 0], [0, 1], [1, 0], [1, 1]])


def test_compute_outputs_validates_its_input() -> None:
    task = get_task("Div_3")  # layout (N, L, 1)
    with pytest.raises(ShapeError, match=r"Div_3 inputs must be \(N, L, 1\); got shape \(2, 10\)"):
        task.compute_outputs(np.zeros((2, 10), np.int32))
    with pytest.raises(
        ConfigError,
        match=r"Div_3 inputs hold 2 at sequence 0, position 1, outside its alphabet 0\.\.1",
    ):
        task.compute_outputs(np.array([[[1], [2], [0]]]))
    with pytest.raises(ConfigError, match=r"dtype float64; pass integers"):
        task.compute_outputs(np.zeros((1, 3, 1)))
