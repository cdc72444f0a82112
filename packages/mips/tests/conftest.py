"""Shared helpers for the pipeline tests: small seeded task data in the canonical layout."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from interplab.mips.sequences import IntArray, as_sequences
from interplab.mips.tasks import get_task

Pair = tuple[IntArray, IntArray]


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """Tiny networks train fastest on one thread (and the test machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def task_data() -> Callable[[str, int], tuple[Pair, Pair]]:
    """``task_data(name, n)``: the task's train and test split of ``n`` sequences, (N, L, d)."""

    def make(name: str, n: int) -> tuple[Pair, Pair]:
        train, test = get_task(name).splits(n=n)
        return (
            (as_sequences(train.inputs), as_sequences(train.outputs)),
            (as_sequences(test.inputs), as_sequences(test.outputs)),
        )

    return make


def rule_outputs(name: str, inputs: IntArray) -> IntArray:
    """The task's reference labels of canonical (N, L, d_in) inputs, as (N, L, d_out)."""
    task = get_task(name)
    layout = inputs if task.spec.has_input_feature_axis else inputs[..., 0]
    return as_sequences(task.compute_outputs(layout.astype(np.int64)))


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh INTERPLAB_HOME (store and cache), as on a new machine."""
    path = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("INTERPLAB_HOME", str(path))
    for name in ("INTERPLAB_STORE", "INTERPLAB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return path
