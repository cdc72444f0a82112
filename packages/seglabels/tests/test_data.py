from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from interplab.core.errors import ConfigError, ShapeError
from interplab.seglabels.data import (
    CAR,
    CLASS_NAMES,
    N_CLASSES,
    ROAD,
    SKY,
    StreetScenes,
    load_folder,
    load_pred_probs,
    make_street_scenes,
    save_folder,
)


@pytest.fixture(scope="module")
def scenes() -> StreetScenes:
    return make_street_scenes(50, seed=0)


def test_class_constants() -> None:
    assert CLASS_NAMES[0] == "unlabeled"
    assert CLASS_NAMES[SKY] == "sky"
    assert CLASS_NAMES[CAR] == "car"
    assert N_CLASSES == len(CLASS_NAMES) == 9


def test_shapes_dtypes_and_ranges(scenes: StreetScenes) -> None:
    assert scenes.images.shape == (50, 3, 64, 64)
    assert scenes.images.dtype == np.float32
    assert scenes.labels.shape == (50, 64, 64)
    assert scenes.labels.dtype == np.int64
    assert scenes.images.min() >= 0.0
    assert scenes.images.max() <= 1.0
    assert scenes.labels.min() >= 0
    assert scenes.labels.max() < N_CLASSES
    assert scenes.class_names == CLASS_NAMES
    assert scenes.seed == 0
    assert len(scenes) == 50


def test_rectangular_size() -> None:
    small = make_street_scenes(2, size=(48, 80), seed=3)
    assert small.images.shape == (2, 3, 48, 80)
    assert small.labels.shape == (2, 48, 80)


def test_same_seed_gives_identical_arrays() -> None:
    a = make_street_scenes(4, seed=7)
    b = make_street_scenes(4, seed=7)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_different_seeds_differ() -> None:
    a = make_street_scenes(4, seed=7)
    b = make_street_scenes(4, seed=8)
    for i in range(4):
        assert not np.array_equal(a.labels[i], b.labels[i])
        assert not np.array_equal(a.images[i], b.images[i])


def test_image_i_does_not_depend_on_n_images() -> None:
    five = make_street_scenes(5, seed=11)
    ten = make_street_scenes(10, seed=11)
    np.testing.assert_array_equal(five.images, ten.images[:5])
    np.testing.assert_array_equal(five.labels, ten.labels[:5])


def test_images_within_a_set_differ(scenes: StreetScenes) -> None:
    flat = scenes.labels.reshape(len(scenes), -1)
    assert len({row.tobytes() for row in flat}) == len(scenes)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_images": 2, "size": 31}, "size=31"),
        ({"n_images": 2, "size": (64, 16)}, r"size=\(64, 16\)"),
        ({"n_images": 2, "size": (64, 64, 3)}, r"size=\(64, 64, 3\)"),
        ({"n_images": 2, "size": 64.0}, "size=64.0"),
        ({"n_images": 0}, "n_images=0"),
        ({"n_images": 2, "seed": -1}, "seed=-1"),
    ],
)
def test_invalid_arguments_name_the_value(kwargs: dict[str, Any], match: str) -> None:
    kwargs.setdefault("seed", 0)
    with pytest.raises(ConfigError, match=match):
        make_street_scenes(**kwargs)


def test_every_class_appears_and_sky_and_car_are_common(scenes: StreetScenes) -> None:
    present = np.bincount(scenes.labels.ravel(), minlength=N_CLASSES) > 0
    assert present.all(), [CLASS_NAMES[k] for k in np.flatnonzero(~present)]
    has_sky = (scenes.labels == SKY).any(axis=(1, 2))
    has_car = (scenes.labels == CAR).any(axis=(1, 2))
    assert has_sky.mean() >= 0.9
    assert has_car.mean() >= 0.85


def test_sky_lies_above_the_road(scenes: StreetScenes) -> None:
    rows = np.broadcast_to(np.arange(64)[None, :, None], scenes.labels.shape)
    assert rows[scenes.labels == SKY].mean() < 0.5 * rows[scenes.labels == ROAD].mean()


def test_colour_alone_does_not_determine_the_class() -> None:
    data = make_street_scenes(60, seed=5)
    pixels = data.images.transpose(0, 2, 3, 1)
    train_x, train_y = pixels[:30].reshape(-1, 3), data.labels[:30].ravel()
    test_x, test_y = pixels[30:].reshape(-1, 3), data.labels[30:].ravel()
    means = np.stack(
        [
            train_x[train_y == k].mean(axis=0) if (train_y == k).any() else np.full(3, np.inf)
            for k in range(N_CLASSES)
        ]
    )
    distances = ((test_x[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1)
    accuracy = float((distances.argmin(axis=1) == test_y).mean())
    assert 0.30 < accuracy < 0.85, accuracy


def test_generation_is_fast() -> None:
    start = time.process_time()  # CPU time: robust to other load on the machine
    make_street_scenes(200, seed=1)
    assert time.process_time() - start < 5.0


# ---------------------------------------------------------------------------------------------
# PNG folders


def test_png_round_trip(tmp_path: Path) -> None:
    data = make_street_scenes(3, size=(40, 56), seed=2)
    assert save_folder(data, tmp_path / "set") == tmp_path / "set"
    assert sorted(p.name for p in (tmp_path / "set" / "images").iterdir()) == [
        "00000.png",
        "00001.png",
        "00002.png",
    ]
    images, labels, names = load_folder(tmp_path / "set")
    assert names == ["00000", "00001", "00002"]
    assert images.shape == (3, 3, 40, 56)
    assert images.dtype == np.float32
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, data.labels)
    assert np.abs(images - data.images).max() <= 1 / 255


def _write(path: Path, array: np.ndarray, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def _rgb(h: int = 8, w: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _mask(h: int = 8, w: int = 8) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 5).astype(np.uint8)


def test_load_folder_accepts_rgb_masks_with_equal_channels(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png", _rgb(), "RGB")
    _write(tmp_path / "masks" / "a.png", np.repeat(_mask()[..., None], 3, axis=-1), "RGB")
    _, labels, names = load_folder(tmp_path)
    assert names == ["a"]
    np.testing.assert_array_equal(labels[0], _mask())


def test_load_folder_pairs_by_stem_and_sorts(tmp_path: Path) -> None:
    for stem in ("b", "a"):
        _write(tmp_path / "images" / f"{stem}.png", _rgb(), "RGB")
        _write(tmp_path / "masks" / f"{stem}.png", _mask(), "L")
    _, _, names = load_folder(tmp_path)
    assert names == ["a", "b"]


def test_load_folder_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_folder(tmp_path / "nowhere")


def test_load_folder_without_masks_subfolder(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png", _rgb(), "RGB")
    with pytest.raises(FileNotFoundError, match="masks"):
        load_folder(tmp_path)


def test_load_folder_empty(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(ConfigError, match="No images"):
        load_folder(tmp_path)


def test_load_folder_image_without_mask(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png", _rgb(), "RGB")
    _write(tmp_path / "images" / "lonely.png", _rgb(), "RGB")
    _write(tmp_path / "masks" / "a.png", _mask(), "L")
    with pytest.raises(ConfigError, match=r"'lonely\.png' has no mask"):
        load_folder(tmp_path)


def test_load_folder_mask_without_image(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png", _rgb(), "RGB")
    _write(tmp_path / "masks" / "a.png", _mask(), "L")
    _write(tmp_path / "masks" / "orphan.png", _mask(), "L")
    with pytest.raises(ConfigError, match=r"'orphan\.png' has no image"):
        load_folder(tmp_path)


def test_load_folder_mask_size_mismatch(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png", _rgb(8, 8), "RGB")
    _write(tmp_path / "masks" / "a.png", _mask(8, 9), "L")
    with pytest.raises(ShapeError, match=r"Mask 'a\.png' is 8x9"):
        load_folder(tmp_path)


def test_load_folder_images_of_different_sizes(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png", _rgb(8, 8), "RGB")
    _write(tmp_path / "masks" / "a.png", _mask(8, 8), "L")
    _write(tmp_path / "images" / "b.png", _rgb(10, 8), "RGB")
    _write(tmp_path / "masks" / "b.png", _mask(10, 8), "L")
    with pytest.raises(ShapeError, match=r"Image 'b\.png' is 10x8"):
        load_folder(tmp_path)


def test_load_folder_colour_coded_mask(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "a.png", _rgb(), "RGB")
    _write(tmp_path / "masks" / "a.png", _rgb(), "RGB")
    with pytest.raises(ConfigError, match=r"'a\.png' is RGB with unequal colour channels"):
        load_folder(tmp_path)


# ---------------------------------------------------------------------------------------------
# pred_probs files


def _probs() -> np.ndarray:
    p = np.random.default_rng(0).random((2, 3, 4, 5)).astype(np.float32)
    return np.asarray(p / p.sum(axis=1, keepdims=True))


def test_load_pred_probs_npy_is_memory_mapped(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", _probs())
    loaded = load_pred_probs(tmp_path / "p.npy")
    assert isinstance(loaded, np.memmap)
    assert not loaded.flags.writeable
    np.testing.assert_array_equal(loaded, _probs())


def test_load_pred_probs_npz_key_or_single_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "named.npz", other=np.zeros(3), pred_probs=_probs())
    np.savez(tmp_path / "single.npz", _probs())
    np.testing.assert_array_equal(load_pred_probs(tmp_path / "named.npz"), _probs())
    np.testing.assert_array_equal(load_pred_probs(tmp_path / "single.npz"), _probs())


def test_load_pred_probs_npz_ambiguous(tmp_path: Path) -> None:
    np.savez(tmp_path / "two.npz", a=_probs(), b=_probs())
    with pytest.raises(ConfigError, match=r"'two\.npz' holds arrays \['a', 'b'\]"):
        load_pred_probs(tmp_path / "two.npz")


def test_load_pred_probs_bad_suffix(tmp_path: Path) -> None:
    (tmp_path / "p.pt").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"suffix '\.pt'"):
        load_pred_probs(tmp_path / "p.pt")


def test_load_pred_probs_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.npy"):
        load_pred_probs(tmp_path / "missing.npy")


def test_load_pred_probs_wrong_dtype_and_shape(tmp_path: Path) -> None:
    np.save(tmp_path / "ints.npy", np.zeros((2, 3, 4, 5), dtype=np.int64))
    np.save(tmp_path / "flat.npy", np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match="dtype int64"):
        load_pred_probs(tmp_path / "ints.npy")
    with pytest.raises(ShapeError, match=r"shape \(2, 3\)"):
        load_pred_probs(tmp_path / "flat.npy")
