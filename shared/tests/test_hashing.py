"""Content digests: canonical JSON, bytes, files, folders and tensors."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import BaseModel

from interplab.core.errors import CacheError
from interplab.core.hashing import (
    canonical_json,
    digest_bytes,
    digest_dir,
    digest_file,
    digest_json,
    digest_tensors,
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tensor_digest_by_hand(items: dict[str, tuple[str, tuple[int, ...], bytes]]) -> str:
    sha = hashlib.sha256()
    for name in sorted(items):
        dtype, shape, raw = items[name]
        sha.update(f"{name}|{dtype}|{shape}|".encode())
        sha.update(raw)
    return sha.hexdigest()


# ------------------------------------------------------------------ canonical JSON


def test_canonical_json_is_sorted_compact_and_utf8() -> None:
    value = {"b": [1, 2.5, None], "a": {"z": True, "y": "ü"}, "c": "x y"}
    text = canonical_json(value)
    assert text == '{"a":{"y":"ü","z":true},"b":[1,2.5,null],"c":"x y"}'
    assert text == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_digest_json_matches_hashlib_and_ignores_key_order() -> None:
    a = {"model": {"layers": 2, "name": "tiny"}, "seed": 0, "tags": ["x", "y"]}
    b = {"tags": ["x", "y"], "seed": 0, "model": {"name": "tiny", "layers": 2}}
    expected = _sha(
        json.dumps(a, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    )
    assert digest_json(a) == digest_json(b) == expected
    assert digest_json({**a, "seed": 1}) != expected
    assert digest_json({**a, "tags": ["y", "x"]}) != expected  # list order matters


def test_tuples_hash_like_lists() -> None:
    assert canonical_json({"shape": (2, 3)}) == '{"shape":[2,3]}'


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (float("nan"), "nan"),
        ({"lr": float("inf")}, "inf"),
        ({"deep": [1.0, {"x": float("-inf")}]}, "-inf"),
        ((1.0, float("nan")), "nan"),
        ({"np": np.float64("inf")}, r"np\.float64\(inf\)|inf"),
        ({"np32": np.float32("nan")}, "nan"),
        ({"set": {float("nan")}}, "nan"),
    ],
    ids=["nan", "inf", "nested-ninf", "tuple", "np-float64", "np-float32", "set"],
)
def test_non_finite_floats_raise_naming_the_value(value: Any, shown: str) -> None:
    with pytest.raises(CacheError, match=rf"cannot hash the float ({shown}) in a cache key"):
        digest_json(value)


def test_unsupported_key_types_raise_naming_the_type() -> None:
    with pytest.raises(CacheError, match="value of type object"):
        canonical_json({"x": object()})


class Colour(Enum):
    RED = "red"


class Params(BaseModel):
    lr: float
    name: str


def test_special_values_have_stable_json_forms() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    value = {
        "path": Path("/data/x.bin"),
        "set": {3, 1, 2},
        "enum": Colour.RED,
        "when": when,
        "raw": b"abc",
        "model": Params(lr=0.1, name="a"),
        "np_int": np.int64(7),
        "np_float": np.float32(0.5),
        "np_bool": np.bool_(True),
    }
    assert json.loads(canonical_json(value)) == {
        "path": "/data/x.bin",
        "set": [1, 2, 3],
        "enum": "red",
        "when": "2024-01-02T03:04:05+00:00",
        "raw": {"__bytes_sha256__": _sha(b"abc")},
        "model": {"lr": 0.1, "name": "a"},
        "np_int": 7,
        "np_float": 0.5,
        "np_bool": True,
    }
    # numpy scalars hash as the equal Python values
    assert digest_json({"n": np.int64(7)}) == digest_json({"n": 7})


def test_tensors_in_key_parts_hash_by_content() -> None:
    t = torch.arange(4, dtype=torch.float32)
    text = canonical_json({"w": t})
    assert json.loads(text) == {"w": {"__tensor_sha256__": digest_tensors({"t": t})}}
    assert canonical_json({"w": t.clone()}) == text
    assert canonical_json({"w": t + 1}) != text


# ------------------------------------------------------------------ bytes, files, folders


def test_digest_bytes_and_file_match_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # > 1 MiB: several read chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert digest_bytes(data) == _sha(data)
    assert digest_file(path) == _sha(data)
    assert digest_file(str(path)) == _sha(data)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert digest_file(empty) == _sha(b"")


def test_digest_dir_matches_a_hand_computation(tmp_path: Path) -> None:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    files = {"b.txt": b"bee", "a.json": b'{"x": 1}', "sub/c.bin": bytes(300)}
    for rel, data in files.items():
        (root / rel).write_bytes(data)

    sha = hashlib.sha256()
    for rel in sorted(files):
        sha.update(rel.encode() + b"\0" + _sha(files[rel]).encode())
    assert digest_dir(root) == sha.hexdigest()


def test_digest_dir_changes_with_content_and_names(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "a.txt").write_text("one")
    before = digest_dir(root)
    (root / "a.txt").write_text("two")
    changed_content = digest_dir(root)
    (root / "a.txt").rename(root / "b.txt")
    renamed = digest_dir(root)
    assert len({before, changed_content, renamed}) == 3
    (root / "empty-dir").mkdir()
    assert digest_dir(root) == renamed  # only files count


# ------------------------------------------------------------------ tensors


def test_digest_tensors_matches_a_hand_computation() -> None:
    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    bias = torch.tensor([1, -1], dtype=torch.int64)
    expected = _tensor_digest_by_hand(
        {
            "weight": ("float32", (2, 3), weight.numpy().tobytes()),
            "bias": ("int64", (2,), bias.numpy().tobytes()),
        }
    )
    assert digest_tensors({"weight": weight, "bias": bias}) == expected
    assert digest_tensors({"bias": bias, "weight": weight}) == expected  # names are sorted


def test_torch_and_numpy_with_equal_dtype_and_values_digest_alike() -> None:
    # dtype names are the same for torch and numpy ("float32", "int64", "bool"), so the
    # documented "same values give the same digest" holds across the two libraries
    for array in (
        np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
        np.array([[1, 2], [3, 4]], dtype=np.int64),
        np.array([True, False]),
        np.array(2.5, dtype=np.float64),
    ):
        tensor = torch.from_numpy(array.copy())
        assert digest_tensors({"x": tensor}) == digest_tensors({"x": array})


def test_digest_tensors_same_values_any_layout_or_grad() -> None:
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    expected = digest_tensors({"w": base})
    transposed_back = base.t().contiguous().t()
    assert not transposed_back.is_contiguous()
    assert digest_tensors({"w": transposed_back}) == expected
    assert digest_tensors({"w": base.clone().requires_grad_(True)}) == expected


def test_digest_tensors_bfloat16_hashes_raw_bits() -> None:
    t = torch.tensor([1.0, -2.5, 3.0], dtype=torch.bfloat16)
    raw = t.view(torch.int16).numpy().tobytes()
    assert digest_tensors({"t": t}) == _tensor_digest_by_hand({"t": ("bfloat16", (3,), raw)})
    assert digest_tensors({"t": t}) != digest_tensors({"t": t.float()})


def test_digest_tensors_differs_by_dtype_shape_name_and_value() -> None:
    t = torch.arange(6, dtype=torch.float32)
    reference = digest_tensors({"a": t})
    variants = [
        digest_tensors({"a": t.to(torch.float64)}),
        digest_tensors({"a": t.to(torch.int32)}),  # same byte size as float32
        digest_tensors({"a": t.reshape(2, 3)}),
        digest_tensors({"b": t}),
        digest_tensors({"a": t + 0.5}),
        digest_tensors({"a": t, "b": t}),
        digest_tensors({"a": np.arange(6, dtype=np.float32).astype(np.int32).view(np.float32)}),
    ]
    assert len({reference, *variants}) == 1 + len(variants)


def test_digest_tensors_empty_and_zero_dim() -> None:
    empty = torch.zeros(0, 3)
    assert digest_tensors({"e": empty}) == _tensor_digest_by_hand({"e": ("float32", (0, 3), b"")})
    assert digest_tensors({"e": empty}) == digest_tensors({"e": np.zeros((0, 3), np.float32)})
    scalar = torch.tensor(3, dtype=torch.int64)
    assert digest_tensors({"s": scalar}) == _tensor_digest_by_hand(
        {"s": ("int64", (), np.int64(3).tobytes())}
    )
    assert digest_tensors({}) == _sha(b"")


def test_zero_dim_numpy_array_keeps_its_shape() -> None:
    assert digest_tensors({"s": np.array(2.5)}) == _tensor_digest_by_hand(
        {"s": ("float64", (), np.float64(2.5).tobytes())}
    )
    assert digest_tensors({"s": np.array(2.5)}) != digest_tensors({"s": np.array([2.5])})
