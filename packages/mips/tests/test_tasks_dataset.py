"""TaskData and the .npz data set files (load_dataset, save_dataset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interplab.core.errors import ConfigError, ShapeError
from interplab.mips.tasks import TaskData, get_task, load_dataset, save_dataset


def test_round_trip_keeps_arrays_dtypes_and_name(tmp_path: Path) -> None:
    data = get_task("Newton_Magnetic").generate(20, seed=0)
    path = save_dataset(data, tmp_path / "magnetic")
    assert path == tmp_path / "magnetic.npz"
    loaded = load_dataset(path)
    assert loaded.name == "Newton_Magnetic" and len(loaded) == 20 and loaded.seq_len == 10
    for got, want in ((loaded.inputs, data.inputs), (loaded.outputs, data.outputs)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_plain_npz_is_named_by_its_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.npz"
    np.savez(path, inputs=np.zeros((4, 6), np.int8), outputs=np.ones((4, 6, 2), np.int64))
    loaded = load_dataset(path)
    assert loaded.name == "mine" and loaded.outputs.shape == (4, 6, 2)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"No data set file at '.*nothere\.npz'"):
        load_dataset(tmp_path / "nothere.npz")


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "text.npz"
    path.write_text("not numpy")
    with pytest.raises(ConfigError, match=r"text\.npz' is not a readable \.npz archive"):
        load_dataset(path)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ConfigError, match=r"single\.npy' holds a single array"):
        load_dataset(single)


def test_missing_array(tmp_path: Path) -> None:
    path = tmp_path / "half.npz"
    np.savez(path, inputs=np.zeros((4, 6), np.int8))
    with pytest.raises(
        ConfigError, match=r"half\.npz' has no array 'outputs' \(it holds \['inputs'"
    ):
        load_dataset(path)


def test_non_integer_array(tmp_path: Path) -> None:
    path = tmp_path / "floats.npz"
    np.savez(path, inputs=np.zeros((4, 6)), outputs=np.zeros((4, 6), np.int8))
    with pytest.raises(ConfigError, match=r"floats\.npz'.*inputs has dtype float64.*astype"):
        load_dataset(path)


def test_object_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, inputs=np.array([[1, None]], dtype=object), outputs=np.zeros((1, 2), np.int8))
    with pytest.raises(ConfigError, match=r"objects\.npz' stores an object array"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("inputs_shape", "outputs_shape", "message"),
    [
        ((5,), (5, 3), r"inputs has shape \(5,\); expected \(N, L\) or \(N, L, d\)"),
        ((5, 3, 2, 1), (5, 3), r"inputs has shape \(5, 3, 2, 1\)"),
        ((5, 3), (4, 3), r"inputs hold N=5 sequences but outputs hold N=4"),
        ((5, 3, 2), (5, 4), r"inputs have L=3 positions but outputs have L=4"),
    ],
)
def test_shape_errors_name_the_file_and_array(
    tmp_path: Path, inputs_shape: tuple[int, ...], outputs_shape: tuple[int, ...], message: str
) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, inputs=np.zeros(inputs_shape, np.int8), outputs=np.zeros(outputs_shape, np.int8))
    with pytest.raises(ShapeError, match=r"Data set file '.*bad\.npz': " + message):
        load_dataset(path)


def test_task_data_checks_its_arrays() -> None:
    with pytest.raises(ShapeError, match=r"TaskData 'x': inputs hold N=2 sequences"):
        TaskData(np.zeros((2, 3), np.int8), np.zeros((3, 3), np.int8), "x")
    with pytest.raises(ConfigError, match=r"TaskData 'x': outputs is a list, not a NumPy array"):
        TaskData(np.zeros((2, 3), np.int8), [[0]], "x")  # type: ignore[arg-type]
