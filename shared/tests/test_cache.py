"""The content-addressed cache: hits and misses, codecs, keys, corruption, atomic writes."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from interplab.core.cache import Cache, CacheCorruptionWarning, CacheInfo
from interplab.core.errors import CacheError


class Counter:
    """A compute function that counts its calls and returns ``make()``."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.make()


def _must_not_compute() -> Any:
    raise AssertionError("compute was called although the entry should have been a hit")


def _expected_key(parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _entry_dir(cache: Cache, parts: Any) -> Path:
    key = _expected_key(parts)
    return cache.root / "entries" / key[:2] / key


def _payload_path(cache: Cache, parts: Any) -> Path:
    entry = _entry_dir(cache, parts)
    meta = json.loads((entry / "meta.json").read_text())
    return entry / f"{meta['sha256']}.{meta['codec']}"


def _dotfiles(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".")]


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


# ------------------------------------------------------------------ hits and misses


def test_miss_then_hit_computes_once_and_counts(cache: Cache) -> None:
    compute = Counter(lambda: {"answer": 42})
    parts = {"what": "answer", "v": 1}

    assert not cache.contains(parts)
    assert cache.get_or_compute(parts, compute) == {"answer": 42}
    assert (cache.stats.hits, cache.stats.misses, compute.calls) == (0, 1, 1)
    assert cache.contains(parts)

    assert cache.get_or_compute(parts, compute) == {"answer": 42}
    assert cache.get_or_compute(parts, compute) == {"answer": 42}
    assert (cache.stats.hits, cache.stats.misses, compute.calls) == (2, 1, 1)
    assert cache.stats.corrupt == 0


def test_a_new_cache_object_on_the_same_root_hits(cache: Cache) -> None:
    cache.get_or_compute(["x", 1], lambda: [1, 2, 3])
    again = Cache(cache.root)
    assert again.get_or_compute(["x", 1], _must_not_compute) == [1, 2, 3]
    assert (again.stats.hits, again.stats.misses) == (1, 0)


def test_get_put_and_default(cache: Cache) -> None:
    assert cache.get({"k": 1}, default="absent") == "absent"
    key = cache.put({"k": 1}, [1, "two"])
    assert key == _expected_key({"k": 1})
    assert cache.get({"k": 1}) == [1, "two"]
    cache.put({"k": 1}, [3])  # overwrite: meta.json now points at the new payload
    assert cache.get({"k": 1}) == [3]
    entry = _entry_dir(cache, {"k": 1})
    meta = json.loads((entry / "meta.json").read_text())
    current = entry / f"{meta['sha256']}.{meta['codec']}"
    assert json.loads(current.read_bytes()) == [3]
    assert hashlib.sha256(current.read_bytes()).hexdigest() == meta["sha256"]


def test_default_root_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERPLAB_CACHE", str(tmp_path / "from-env"))
    assert Cache().root == tmp_path / "from-env"
    assert (tmp_path / "from-env").is_dir()


def test_unusable_root_raises_cache_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(CacheError, match=re.escape(repr(str(blocker / "cache")))):
        Cache(blocker / "cache")


# ------------------------------------------------------------------ codecs


@pytest.mark.parametrize(
    "dtype",
    [
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.int32,
        torch.uint8,
        torch.bool,
    ],
    ids=str,
)
def test_single_torch_tensor_round_trips_exactly(cache: Cache, dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(3)
    if dtype.is_floating_point:
        original = (torch.randn(4, 5, generator=generator) * 1e3).to(dtype)
    elif dtype == torch.bool:
        original = torch.rand(4, 5, generator=generator) > 0.5
    else:
        original = torch.randint(0, 200, (4, 5), generator=generator).to(dtype)
    if dtype == torch.int64:
        original[0, 0] = 2**62 + 7  # beyond float64 precision: must survive bit-exactly

    value = cache.get_or_compute({"t": str(dtype)}, original.clone)
    hit = cache.get_or_compute({"t": str(dtype)}, _must_not_compute)
    for got in (value, hit):
        assert isinstance(got, torch.Tensor)
        assert got.dtype == dtype
        assert got.shape == (4, 5)
        assert got.device.type == "cpu"
        assert torch.equal(got, original)


def test_non_contiguous_and_grad_tensors_round_trip(cache: Cache) -> None:
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    transposed = base.t()
    assert not transposed.is_contiguous()
    assert torch.equal(cache.get_or_compute("t", lambda: transposed), transposed)

    scalar = torch.tensor(-3.5, dtype=torch.float64)
    got_scalar = cache.get_or_compute("s", lambda: scalar)
    assert got_scalar.shape == ()
    assert torch.equal(got_scalar, scalar)

    weights = torch.linspace(-1, 1, 7, requires_grad=True)
    got = cache.get_or_compute("w", lambda: weights)
    assert not got.requires_grad
    assert torch.equal(got, weights.detach())


def test_dict_of_torch_tensors_round_trips(cache: Cache) -> None:
    state = {
        "layer.weight": torch.randn(3, 2, generator=torch.Generator().manual_seed(0)),
        "layer.bias": torch.tensor([1.5, -2.0, 0.25], dtype=torch.bfloat16),
        "steps": torch.tensor(17, dtype=torch.int64),
    }
    cache.get_or_compute({"model": "tiny"}, lambda: state)
    got = cache.get_or_compute({"model": "tiny"}, _must_not_compute)
    assert set(got) == set(state)
    for name, tensor in state.items():
        assert got[name].dtype == tensor.dtype
        assert torch.equal(got[name], tensor)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(10, dtype=np.float32).reshape(2, 5) / 3,
        np.array([[1, -2], [3, 2**40]], dtype=np.int64),
        np.array([True, False, True]),
        np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        np.array([0.5, 65504.0], dtype=np.float16),
        np.array(2.5),
    ],
    ids=["float32", "int64", "bool", "fortran", "float16", "zero-dim"],
)
def test_numpy_array_round_trips(cache: Cache, array: np.ndarray) -> None:
    cache.get_or_compute({"a": str(array.dtype), "f": array.flags.f_contiguous}, lambda: array)
    got = cache.get_or_compute(
        {"a": str(array.dtype), "f": array.flags.f_contiguous}, _must_not_compute
    )
    assert isinstance(got, np.ndarray)
    assert got.dtype == array.dtype
    assert got.shape == array.shape
    np.testing.assert_array_equal(got, array)


def test_dict_of_numpy_arrays_round_trips(cache: Cache) -> None:
    arrays = {"x": np.linspace(0, 1, 5), "labels": np.array([3, 1, 2], dtype=np.int32)}
    cache.get_or_compute("arrays", lambda: arrays)
    got = cache.get_or_compute("arrays", _must_not_compute)
    assert set(got) == {"x", "labels"}
    for name, array in arrays.items():
        assert got[name].dtype == array.dtype
        np.testing.assert_array_equal(got[name], array)


def test_json_values_round_trip_including_nan(cache: Cache) -> None:
    value = {
        "nested": {"list": [1, 2.5, None, True, "ünïcode"], "empty": {}},
        "nan": float("nan"),
        "inf": float("-inf"),
        "rows": [[1, 2], [3, 4]],
    }
    cache.get_or_compute("json", lambda: value)
    got = cache.get_or_compute("json", _must_not_compute)
    assert math.isnan(got.pop("nan"))
    expected = {k: v for k, v in value.items() if k != "nan"}
    assert got == expected
    assert (_payload_path(cache, "json").suffix, cache.info().by_codec) == (".json", {"json": 1})


@pytest.mark.parametrize("value", [0, 3.25, "text", None, [], {}, [float("inf")]])
def test_json_scalars_and_empty_containers_round_trip(cache: Cache, value: Any) -> None:
    cache.get_or_compute({"v": repr(value)}, lambda: value)
    assert cache.get_or_compute({"v": repr(value)}, _must_not_compute) == value


def test_bytes_round_trip(cache: Cache) -> None:
    data = bytes(range(256)) * 3
    cache.get_or_compute("raw", lambda: data)
    got = cache.get_or_compute("raw", _must_not_compute)
    assert isinstance(got, bytes)
    assert got == data
    assert _payload_path(cache, "raw").read_bytes() == data


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (object(), "object"),
        ((1, 2), "tuple"),
        ({"pair": (1, 2)}, "dict"),
        ({1: "int key"}, "dict"),
        ((float("nan"), 1.0), "tuple"),
        (("NaN",), "tuple"),
        ({"mixed": torch.zeros(2), "arr": np.zeros(2)}, "dict"),
        ({1, 2}, "set"),
    ],
    ids=["object", "tuple", "nested-tuple", "int-key", "nan-tuple", "NaN-string-tuple",
         "mixed-tensors", "set"],
)  # fmt: skip
def test_unsupported_values_raise_and_store_nothing(cache: Cache, value: Any, named: str) -> None:
    with pytest.raises(CacheError, match=f"value of type {named}"):
        cache.get_or_compute({"bad": named}, lambda: value)
    assert not cache.contains({"bad": named})
    assert cache.info().entries == 0


# ------------------------------------------------------------------ keys


def test_key_is_sha256_of_canonical_json(cache: Cache) -> None:
    parts = {"model": "gpt2", "layers": [1, 2, 3], "lr": 0.5, "name": "é", "flag": None}
    key = Cache.key(parts)
    assert key == _expected_key(parts)
    assert re.fullmatch(r"[0-9a-f]{64}", key)

    cache.put(parts, 1)
    meta = json.loads((cache.root / "entries" / key[:2] / key / "meta.json").read_text())
    assert meta["key"] == key
    assert meta["key_parts"] == parts


def test_key_ignores_dict_order_but_not_content() -> None:
    a = {"x": 1, "y": {"b": 2, "a": [1, 2]}}
    b = {"y": {"a": [1, 2], "b": 2}, "x": 1}
    assert Cache.key(a) == Cache.key(b)
    others = [
        {"x": 2, "y": {"b": 2, "a": [1, 2]}},
        {"x": 1, "y": {"b": 2, "a": [2, 1]}},
        {"x": 1, "y": {"b": 2, "a": [1, 2]}, "z": None},
        {"x": "1", "y": {"b": 2, "a": [1, 2]}},
    ]
    keys = {Cache.key(a), *(Cache.key(o) for o in others)}
    assert len(keys) == 1 + len(others)


def test_different_parts_give_different_entries(cache: Cache) -> None:
    first = cache.get_or_compute({"seed": 1}, lambda: "one")
    second = cache.get_or_compute({"seed": 2}, lambda: "two")
    assert (first, second) == ("one", "two")
    assert cache.info().entries == 2


def test_nan_in_key_parts_raises(cache: Cache) -> None:
    with pytest.raises(CacheError, match=r"cannot hash the float nan in a cache key"):
        cache.get_or_compute({"lr": float("nan")}, _must_not_compute)


# ------------------------------------------------------------------ corruption


def _flip_middle_byte(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return bytes(data)


def _assert_no_warning(call: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


@pytest.mark.parametrize(
    "make",
    [
        lambda: bytes(range(200)),
        lambda: {"values": list(range(50)), "label": "x" * 40},
        lambda: torch.arange(64, dtype=torch.float32),
        lambda: np.arange(64, dtype=np.int64),
    ],
    ids=["bytes", "json", "torch", "numpy"],
)
def test_corrupt_payload_is_detected_and_recomputed(cache: Cache, make: Callable[[], Any]) -> None:
    parts = {"corrupt": "payload"}
    compute = Counter(make)
    cache.get_or_compute(parts, compute)
    payload = _payload_path(cache, parts)
    corrupted = _flip_middle_byte(payload)

    key = _expected_key(parts)
    with pytest.warns(CacheCorruptionWarning, match=rf"{key}.*is corrupt: sha256"):
        got = cache.get_or_compute(parts, compute)
    assert compute.calls == 2
    assert cache.stats.corrupt == 1
    _assert_equal(got, make())
    if isinstance(got, bytes):
        assert got != corrupted

    # healthy afterwards: a hit, no warning, the stored bytes hash to the recorded sha256
    again = _assert_no_warning(lambda: cache.get_or_compute(parts, compute))
    _assert_equal(again, make())
    assert compute.calls == 2
    meta = json.loads((_entry_dir(cache, parts) / "meta.json").read_text())
    assert hashlib.sha256(_payload_path(cache, parts).read_bytes()).hexdigest() == meta["sha256"]


def _assert_equal(got: Any, expected: Any) -> None:
    if isinstance(expected, torch.Tensor):
        assert torch.equal(got, expected)
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(got, expected)
    else:
        assert got == expected


def _truncate(meta: Path) -> None:
    meta.write_bytes(meta.read_bytes()[: meta.stat().st_size // 2])


def _garble(meta: Path) -> None:
    meta.write_bytes(b"\xff\xfe\x00garbage")


def _not_an_object(meta: Path) -> None:
    meta.write_text("[1, 2, 3]")


def _drop_sha(meta: Path) -> None:
    data = json.loads(meta.read_text())
    del data["sha256"]
    meta.write_text(json.dumps(data))


def _wrong_sha(meta: Path) -> None:
    data = json.loads(meta.read_text())
    data["sha256"] = "0" * 64
    meta.write_text(json.dumps(data))


def _undecodable(meta: Path) -> None:
    # the payload still hashes right but is renamed to a codec that cannot read it
    data = json.loads(meta.read_text())
    payload = meta.parent / f"{data['sha256']}.{data['codec']}"
    payload.rename(meta.parent / f"{data['sha256']}.torch1")
    data["codec"] = "torch1"
    meta.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_truncate, "unreadable entry"),
        (_garble, "unreadable entry"),
        (_not_an_object, "unreadable entry"),
        (_drop_sha, "unreadable entry .*'sha256'"),
        (_wrong_sha, "unreadable entry"),
        (_undecodable, "cannot decode"),
    ],
    ids=["truncated", "garbled", "not-an-object", "no-sha", "wrong-sha", "undecodable"],
)
def test_damaged_meta_is_detected_and_recomputed(
    cache: Cache, damage: Callable[[Path], None], why: str
) -> None:
    parts = {"corrupt": "meta"}
    compute = Counter(lambda: {"value": [1, 2, 3]})
    cache.get_or_compute(parts, compute)
    damage(_entry_dir(cache, parts) / "meta.json")

    with pytest.warns(CacheCorruptionWarning, match=rf"{_expected_key(parts)} is corrupt: {why}"):
        got = cache.get_or_compute(parts, compute)
    assert got == {"value": [1, 2, 3]}
    assert compute.calls == 2
    assert _assert_no_warning(lambda: cache.get_or_compute(parts, compute)) == got
    assert compute.calls == 2


def test_get_of_a_corrupt_entry_returns_the_default(cache: Cache) -> None:
    cache.put("g", b"stored bytes")
    _flip_middle_byte(_payload_path(cache, "g"))
    with pytest.warns(CacheCorruptionWarning, match=_expected_key("g")):
        assert cache.get("g", default="fallback") == "fallback"
    assert not cache.contains("g")


# ------------------------------------------------------------------ atomic writes


def test_writes_leave_no_temporary_files(cache: Cache) -> None:
    cache.get_or_compute("a", lambda: torch.ones(3))
    cache.get_or_compute("b", lambda: {"x": 1})
    cache.put("b", {"x": 2})
    cache.put_blob(b"blob")
    cache.directory("d", lambda folder: (folder / "f.txt").write_text("hi"))
    assert _dotfiles(cache.root) == []


@pytest.mark.parametrize("failing_call", [1, 2], ids=["payload", "meta"])
def test_crash_during_write_leaves_no_entry(
    cache: Cache, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    real_replace = os.replace
    calls = {"n": 0}

    def crashing_replace(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == failing_call:
            raise OSError(f"simulated crash while renaming to {dst}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crashing_replace)
    compute = Counter(lambda: {"value": 7})
    name = "meta.json" if failing_call == 2 else ".json"
    with pytest.raises(OSError, match=f"simulated crash while renaming to .*{re.escape(name)}"):
        cache.get_or_compute("crash", compute)
    assert not cache.contains("crash")
    assert _dotfiles(cache.root) == []

    assert cache.get_or_compute("crash", compute) == {"value": 7}
    assert compute.calls == 2
    assert cache.contains("crash")
    assert cache.get_or_compute("crash", compute) == {"value": 7}
    assert compute.calls == 2


# ------------------------------------------------------------------ folders


def _build_model(folder: Path) -> None:
    (folder / "config.json").write_text('{"layers": 2}')
    (folder / "weights").mkdir()
    (folder / "weights" / "shard-0.bin").write_bytes(bytes(range(100)))


def test_directory_builds_once_then_hits(cache: Cache) -> None:
    build = Counter(lambda: None)
    calls: list[Path] = []

    def builder(folder: Path) -> None:
        build()
        calls.append(folder)
        _build_model(folder)

    first = cache.directory({"model": "tiny"}, builder)
    second = cache.directory({"model": "tiny"}, builder)
    assert first == second
    assert build.calls == 1
    assert calls[0] != first  # built in a temporary folder, then moved into place
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    assert (first / "config.json").read_text() == '{"layers": 2}'
    assert (first / "weights" / "shard-0.bin").read_bytes() == bytes(range(100))

    key = _expected_key({"model": "tiny"})
    manifest = json.loads((first.parent / f"{key}.manifest.json").read_text())
    assert manifest["key_parts"] == {"model": "tiny"}
    assert manifest["files"] == {
        "config.json": hashlib.sha256(b'{"layers": 2}').hexdigest(),
        "weights/shard-0.bin": hashlib.sha256(bytes(range(100))).hexdigest(),
    }


def _modify(folder: Path) -> None:
    (folder / "weights" / "shard-0.bin").write_bytes(b"tampered")


def _add(folder: Path) -> None:
    (folder / "extra.txt").write_text("surprise")


def _delete(folder: Path) -> None:
    (folder / "config.json").unlink()


@pytest.mark.parametrize(
    ("tamper", "named"),
    [(_modify, "weights/shard-0.bin"), (_add, "extra.txt"), (_delete, "config.json")],
    ids=["modified", "added", "deleted"],
)
def test_directory_detects_changed_files_and_rebuilds(
    cache: Cache, tamper: Callable[[Path], None], named: str
) -> None:
    build = Counter(lambda: None)

    def builder(folder: Path) -> None:
        build()
        _build_model(folder)

    folder = cache.directory("model", builder)
    tamper(folder)
    with pytest.warns(CacheCorruptionWarning, match=f"files differ from the manifest.*{named}"):
        rebuilt = cache.directory("model", builder)
    assert build.calls == 2
    assert rebuilt == folder
    assert sorted(p.relative_to(rebuilt).as_posix() for p in rebuilt.rglob("*")) == [
        "config.json",
        "weights",
        "weights/shard-0.bin",
    ]
    assert (rebuilt / "weights" / "shard-0.bin").read_bytes() == bytes(range(100))
    assert _assert_no_warning(lambda: cache.directory("model", builder)) == folder
    assert build.calls == 2


def test_directory_build_failure_leaves_nothing(cache: Cache) -> None:
    def failing(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"half")
        raise RuntimeError("build failed for 'broken'")

    with pytest.raises(RuntimeError, match="build failed for 'broken'"):
        cache.directory("broken", failing)
    assert cache.info().dirs == 0
    assert list((cache.root / "dirs").rglob("*.bin")) == []


# ------------------------------------------------------------------ blobs


def test_blobs_are_addressed_by_sha256(cache: Cache) -> None:
    data = b"\x89PNG fake figure bytes"
    sha = cache.put_blob(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert cache.blob_path(sha) == cache.root / "blobs" / sha[:2] / sha
    assert cache.blob_path(sha).read_bytes() == data
    assert cache.read_blob(sha) == data
    assert cache.put_blob(data) == sha
    assert cache.info().blobs == 1
    assert cache.read_blob(hashlib.sha256(b"never stored").hexdigest()) is None


def test_corrupt_blob_reads_as_none_with_a_warning(cache: Cache) -> None:
    sha = cache.put_blob(b"figure bytes " * 10)
    _flip_middle_byte(cache.blob_path(sha))
    with pytest.warns(CacheCorruptionWarning, match=f"{sha} is corrupt: blob bytes do not match"):
        assert cache.read_blob(sha) is None
    assert not cache.blob_path(sha).exists()
    assert cache.stats.corrupt == 1
    assert cache.put_blob(b"figure bytes " * 10) == sha  # can be stored again
    assert cache.read_blob(sha) == b"figure bytes " * 10


# ------------------------------------------------------------------ info and clear


def test_info_counts_and_clear_empties(cache: Cache) -> None:
    assert cache.info() == CacheInfo(cache.root, 0, 0, 0, 0, {})
    cache.put("json", {"a": 1})
    cache.put("tensor", torch.zeros(8))
    cache.put("arrays", {"x": np.zeros(3)})
    cache.directory("folder", _build_model)
    cache.put_blob(b"one")
    cache.put_blob(b"two")

    info = cache.info()
    assert (info.entries, info.dirs, info.blobs) == (3, 1, 2)
    assert info.by_codec == {"json": 1, "torch1": 1, "numpy": 1}
    on_disk = sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(cache.root)
        for name in names
    )
    assert info.size_bytes == on_disk > 0

    assert cache.clear() == 6
    assert cache.info() == CacheInfo(cache.root, 0, 0, 0, 0, {})
    assert not cache.contains("json")
    assert cache.get_or_compute("json", lambda: {"a": 2}) == {"a": 2}


def test_clear_keeps_the_blobs_it_is_told_to(cache: Cache) -> None:
    cache.put("json", {"a": 1})
    cache.directory("folder", _build_model)
    kept = [cache.put_blob(b"figure"), cache.put_blob(b"program")]
    gone = cache.put_blob(b"stale")
    assert cache.clear(keep_blobs=[*kept, "0" * 64]) == 3  # an absent hash is no matter
    assert [cache.read_blob(sha) for sha in kept] == [b"figure", b"program"]
    assert cache.read_blob(gone) is None and not cache.blob_path(gone).parent.exists()
    info = cache.info()
    assert (info.entries, info.dirs, info.blobs) == (0, 0, 2)


# ------------------------------------------------------------------ two processes


def _concurrent_worker(root: str, barrier: Any, results: Any, worker: int) -> None:
    cache = Cache(root)
    barrier.wait(timeout=60)
    values = []
    for i in range(15):
        value = cache.get_or_compute(
            {"shared": i},
            lambda i=i: (time.sleep(0.01), torch.arange(1000, dtype=torch.float64) * i)[1],
        )
        values.append(float(value.sum()))
    results.put((worker, values, cache.stats.hits + cache.stats.misses, cache.stats.corrupt))


def test_two_processes_share_an_entry(tmp_path: Path) -> None:
    # one spawned process and this one run the same worker on the same keys at the same time
    root = tmp_path / "shared-cache"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    child = ctx.Process(target=_concurrent_worker, args=(str(root), barrier, results, 1))
    child.start()
    try:
        _concurrent_worker(str(root), barrier, results, 0)
        outcomes = sorted(results.get(timeout=120) for _ in range(2))
    finally:
        child.join(timeout=60)
    assert child.exitcode == 0

    expected = [float(sum(range(1000)) * i) for i in range(15)]
    assert outcomes == [(0, expected, 15, 0), (1, expected, 15, 0)]

    cache = Cache(root)
    for i in range(15):
        got = _assert_no_warning(lambda i=i: cache.get_or_compute({"shared": i}, _must_not_compute))
        assert torch.equal(got, torch.arange(1000, dtype=torch.float64) * i)
    assert cache.info().entries == 15
    assert _dotfiles(root) == []
