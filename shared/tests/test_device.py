"""Device, dtype and seeding helpers, and the small tensor conversions."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from interplab.core.device import (
    check_device_name,
    describe_device,
    deterministic_mode,
    resolve_device,
    resolve_dtype,
    seed_everything,
)
from interplab.core.errors import ConfigError
from interplab.core.tensors import batch_slices, to_numpy, to_torch

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())

# ------------------------------------------------------------------ devices


def test_auto_picks_the_best_available_device() -> None:
    expected = "cuda" if HAS_CUDA else "mps" if HAS_MPS else "cpu"
    assert resolve_device("auto") == torch.device(expected)
    assert resolve_device() == torch.device(expected)


@pytest.mark.parametrize("name", ["cpu", "CPU", " cpu ", "cpu:0"])
def test_cpu_is_always_available(name: str) -> None:
    assert resolve_device(name).type == "cpu"
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here, so 'cuda' does not raise")
@pytest.mark.parametrize("name", ["cuda", "cuda:1", "CUDA"])
def test_cuda_without_cuda_raises(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"device={name!r} was requested but torch sees no CUDA"):
        resolve_device(name)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_index_out_of_range_raises() -> None:
    name = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ConfigError, match=rf"device={name!r} is out of range"):
        resolve_device(name)


@pytest.mark.skipif(HAS_MPS, reason="MPS is available here, so 'mps' does not raise")
def test_mps_without_mps_raises() -> None:
    with pytest.raises(ConfigError, match=r"device='mps' was requested but MPS is not available"):
        resolve_device("mps")


@pytest.mark.parametrize(
    "name",
    ["tpu", "gpu", "xla:0", "", "auto:0", "cuda:", "cuda:x", "cuda:-1", "cpu:foo", "cuda:1:2"],
)
def test_unknown_device_raises(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"device={name!r} is not known; use 'auto', 'cpu', "):
        resolve_device(name)
    with pytest.raises(ConfigError, match=rf"device={name!r} is not known; use 'auto', 'cpu', "):
        check_device_name(name)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("auto", ("auto", None)),
        ("cpu", ("cpu", None)),
        ("cpu:0", ("cpu", 0)),
        ("cuda", ("cuda", None)),
        (" CUDA:3 ", ("cuda", 3)),
        ("mps", ("mps", None)),
    ],
)
def test_check_device_name_needs_no_hardware(name: str, parsed: tuple[str, int | None]) -> None:
    assert check_device_name(name) == parsed


def test_describe_cpu() -> None:
    assert describe_device(torch.device("cpu")) == f"cpu ({torch.get_num_threads()} threads)"


# ------------------------------------------------------------------ dtypes


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        ("float32", torch.float32),
        ("fp32", torch.float32),
        ("float", torch.float32),
        ("FP32", torch.float32),
        ("float16", torch.float16),
        ("fp16", torch.float16),
        ("half", torch.float16),
        ("bfloat16", torch.bfloat16),
        ("bf16", torch.bfloat16),
        (" BF16 ", torch.bfloat16),
        ("float64", torch.float64),
        ("fp64", torch.float64),
        ("double", torch.float64),
    ],
)
def test_dtype_aliases(name: str, dtype: torch.dtype) -> None:
    assert resolve_dtype(name) is dtype


def test_dtype_passthrough_and_default() -> None:
    assert resolve_dtype(torch.int8) is torch.int8
    assert resolve_dtype(None) is torch.float32
    assert resolve_dtype("auto") is torch.float32
    assert resolve_dtype(None, torch.device("cpu")) is torch.float32


@pytest.mark.parametrize("name", ["int8", "fp8", "bfloat", ""])
def test_unknown_dtype_raises(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"dtype={name!r} is not known; use one of \["):
        resolve_dtype(name)


# ------------------------------------------------------------------ seeding


@pytest.fixture
def restore_rng() -> Iterator[None]:
    py_state, np_state, torch_state = (
        random.getstate(),
        np.random.get_state(),
        torch.get_rng_state(),
    )
    yield
    random.setstate(py_state)
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)


def _draw() -> tuple[float, list[float], list[float]]:
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()


@pytest.mark.usefixtures("restore_rng")
def test_seed_everything_makes_draws_reproducible() -> None:
    seed_everything(1234)
    first = _draw()
    seed_everything(1234)
    assert _draw() == first
    seed_everything(1235)
    assert _draw() != first

    # the same streams as seeding each library by hand
    random.seed(1234)
    np.random.seed(1234)
    torch.manual_seed(1234)
    assert _draw() == first


@pytest.mark.usefixtures("restore_rng")
def test_seed_everything_accepts_the_bounds() -> None:
    seed_everything(0)
    seed_everything(2**32 - 1)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_out_of_range_raises(seed: int) -> None:
    with pytest.raises(ConfigError, match=rf"seed={seed} is out of range"):
        seed_everything(seed)


def test_deterministic_mode_toggles_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)  # restored after the test
    was = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark, deterministic = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    try:
        deterministic_mode(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic is True
        assert torch.backends.cudnn.benchmark is False
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"

        deterministic_mode(False)
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic is False
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark
        torch.backends.cudnn.deterministic = deterministic


def test_deterministic_mode_keeps_a_user_cublas_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    was = torch.are_deterministic_algorithms_enabled()
    try:
        deterministic_mode(True)
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    finally:
        deterministic_mode(was)


# ------------------------------------------------------------------ tensors


def _bfloat16_by_hand(values: list[float]) -> np.ndarray:
    # round float32 bits to their top 16 (nearest, ties to even), as bfloat16 does
    bits = np.array(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def test_to_numpy_from_bfloat16_gives_equal_float32() -> None:
    values = [1.0, -2.5, 3.140625, 2.0**100, 0.1, 1 / 3, -7.0e-3]
    t = torch.tensor(values, dtype=torch.bfloat16)
    array = to_numpy(t)
    assert array.dtype == np.float32
    assert array.shape == (len(values),)
    np.testing.assert_array_equal(array, _bfloat16_by_hand(values))
    np.testing.assert_array_equal(array[:4], np.array(values[:4], dtype=np.float32))  # exact ones


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.int64])
def test_to_numpy_keeps_numpy_dtypes(dtype: torch.dtype) -> None:
    t = torch.arange(6, dtype=dtype).reshape(2, 3)
    array = to_numpy(t)
    assert str(array.dtype) == str(dtype).removeprefix("torch.")
    np.testing.assert_array_equal(array, np.arange(6).reshape(2, 3))


def test_to_numpy_detaches_and_passes_array_likes() -> None:
    t = torch.ones(3, requires_grad=True) * 2
    np.testing.assert_array_equal(to_numpy(t), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(to_numpy([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]]))


def test_to_torch_shares_memory_with_contiguous_numpy() -> None:
    array = np.arange(4, dtype=np.float32)
    tensor = to_torch(array)
    assert tensor.dtype == torch.float32
    array[0] = 42.0
    assert float(tensor[0]) == 42.0
    fortran = np.asfortranarray(np.arange(6).reshape(2, 3))
    assert torch.equal(to_torch(fortran), torch.arange(6).reshape(2, 3))
    existing = torch.zeros(2)
    assert to_torch(existing) is existing
    assert to_torch(existing, "cpu").device.type == "cpu"


@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (9, 3), (1, 5), (0, 4), (7, 1)])
def test_batch_slices_cover_the_range_exactly(n: int, batch_size: int) -> None:
    slices = list(batch_slices(n, batch_size))
    covered = [i for s in slices for i in range(n)[s]]
    assert covered == list(range(n))
    assert all(0 < s.stop - s.start <= batch_size for s in slices)
    assert len(slices) == -(-n // batch_size)


def test_batch_slices_values() -> None:
    assert list(batch_slices(10, 4)) == [slice(0, 4), slice(4, 8), slice(8, 10)]


@pytest.mark.parametrize("batch_size", [0, -2])
def test_batch_size_must_be_positive(batch_size: int) -> None:
    with pytest.raises(ConfigError, match=rf"batch_size={batch_size} must be positive"):
        list(batch_slices(5, batch_size))
