"""Fixtures of the robustness tests: tiny models saved locally (see ``robustness_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from robustness_helpers import save_tiny, train_tiny


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny-gpt2"), "gpt2")


@pytest.fixture(scope="session")
def tiny_neox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny-neox"), "neox")


@pytest.fixture(params=["gpt2", "neox"])
def tiny_dir(request: pytest.FixtureRequest) -> Path:
    """Both families, one after the other."""
    return request.getfixturevalue(f"tiny_{request.param}_dir")


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a test module, its module fixtures included (tiny ops on a loaded
    2-core machine run several times faster on one thread); restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def no_grad_one_thread(one_thread: None) -> Iterator[None]:
    """:func:`one_thread` and no autograd for a test module."""
    import torch

    with torch.no_grad():
        yield


@pytest.fixture(scope="session")
def trained_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("trained-gpt2"), "gpt2")


@pytest.fixture(scope="session")
def trained_neox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("trained-neox"), "neox")
