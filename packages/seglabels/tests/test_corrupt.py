from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from interplab.core.errors import ConfigError, ShapeError
from interplab.seglabels.corrupt import (
    ERROR_KINDS,
    ClassIds,
    ErrorRates,
    InjectedErrors,
    inject_label_errors,
    shift_mask,
)
from interplab.seglabels.data import CAR, SKY, UNLABELED, make_street_scenes

NONE = {kind: 0.0 for kind in ERROR_KINDS}


def only(**rates: float) -> ErrorRates:
    return ErrorRates(**{**NONE, **rates})


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    labels: np.ndarray = make_street_scenes(16, seed=0).labels
    labels.flags.writeable = False  # any in-place change by the code under test would raise
    return labels


def toy_labels(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Road (2) everywhere, sky (top rows) in ~80% of images, a car block in ~80%."""
    rng = np.random.default_rng(seed)
    has_sky, has_car = rng.random(n) < 0.8, rng.random(n) < 0.8
    labels = np.full((n, size, size), 2, dtype=np.int64)
    labels[has_sky, : size // 3] = SKY
    labels[has_car, size // 2 : size // 2 + size // 4, size // 4 : size // 2] = CAR
    return labels, has_sky, has_car


def edge(mask: np.ndarray) -> np.ndarray:
    """Pixels of the mask with a 4-neighbour outside it (the image border counts as outside)."""
    p = np.pad(mask, 1, constant_values=False)
    interior = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return np.asarray(mask & ~interior)


def max_distance(points: np.ndarray, targets: np.ndarray) -> float:
    a, b = np.argwhere(points), np.argwhere(targets)
    return float(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).min(axis=1).max())


def test_error_rates_defaults_are_the_papers() -> None:
    assert ErrorRates().as_tuple() == (0.10, 0.10, 0.05, 0.05, 0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"drop_sky": 1.5}, r"ErrorRates\.drop_sky=1\.5"),
        ({"shift_car": -0.1}, r"ErrorRates\.shift_car=-0\.1"),
        ({"swap_sky_car": "high"}, r"ErrorRates\.swap_sky_car='high'"),
        ({"drop_car": float("nan")}, r"ErrorRates\.drop_car=nan"),
    ],
)
def test_error_rates_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ErrorRates(**kwargs)


def test_class_ids_validation() -> None:
    with pytest.raises(ConfigError, match="three different class ids"):
        ClassIds(sky=1, car=1)
    with pytest.raises(ConfigError, match=r"ClassIds\.car=-2"):
        ClassIds(car=-2)


def test_input_validation(clean: np.ndarray) -> None:
    with pytest.raises(ShapeError, match=r"\(64, 64\)"):
        inject_label_errors(clean[0], seed=0)
    with pytest.raises(ConfigError, match="dtype float64"):
        inject_label_errors(clean.astype(np.float64), seed=0)
    with pytest.raises(ConfigError, match="seed=-3"):
        inject_label_errors(clean, seed=-3)
    with pytest.raises(ConfigError, match="shift_variance=-1"):
        inject_label_errors(clean, seed=0, shift_variance=-1.0)


def test_rates_are_respected_and_draws_independent() -> None:
    labels, has_sky, has_car = toy_labels(2000, 12, seed=1)
    result = inject_label_errors(labels, seed=0, shift_variance=9.0)
    got = {kind: np.array([kind in k for k in result.kinds]) for kind in ERROR_KINDS}
    assert abs(got["drop_sky"][has_sky].mean() - 0.10) < 0.03
    assert abs(got["drop_car"][has_car].mean() - 0.10) < 0.03
    sky_left = has_sky & ~got["drop_sky"]
    car_left = has_car & ~got["drop_car"]
    assert abs(got["shift_sky"][sky_left].mean() - 0.05) < 0.02
    assert abs(got["shift_car"][car_left].mean() - 0.05) < 0.02
    assert abs(got["swap_sky_car"][sky_left | car_left].mean() - 0.05) < 0.02
    both = has_sky & has_car
    assert abs((got["drop_sky"] & got["drop_car"])[both].mean() - 0.01) < 0.01
    # an error whose class is absent is not recorded
    assert not got["drop_sky"][~has_sky].any()
    assert not got["shift_car"][~car_left].any()
    assert not got["swap_sky_car"][~(sky_left | car_left)].any()
    assert 0.20 < result.is_mislabeled.mean() < 0.36  # paper: 32.2 % on street scenes


def test_all_or_nothing_rates(clean: np.ndarray) -> None:
    nothing = inject_label_errors(clean, seed=0, rates=only())
    np.testing.assert_array_equal(nothing.labels, clean)
    assert not nothing.is_mislabeled.any()
    assert nothing.kinds == [[] for _ in range(len(clean))]


def test_drop_sky(clean: np.ndarray) -> None:
    result = inject_label_errors(clean, seed=0, rates=only(drop_sky=1.0))
    was_sky = clean == SKY
    assert not (result.labels == SKY).any()
    assert (result.labels[was_sky] == UNLABELED).all()
    np.testing.assert_array_equal(result.labels[~was_sky], clean[~was_sky])
    assert result.kinds == [["drop_sky"] if s else [] for s in was_sky.any(axis=(1, 2))]


def test_drop_car(clean: np.ndarray) -> None:
    result = inject_label_errors(clean, seed=0, rates=only(drop_car=1.0))
    was_car = clean == CAR
    assert not (result.labels == CAR).any()
    assert (result.labels[was_car] == UNLABELED).all()
    np.testing.assert_array_equal(result.labels[~was_car], clean[~was_car])


def test_swap_sky_and_car(clean: np.ndarray) -> None:
    result = inject_label_errors(clean, seed=0, rates=only(swap_sky_car=1.0))
    was_sky, was_car = clean == SKY, clean == CAR
    assert (result.labels[was_sky] == CAR).all()
    assert (result.labels[was_car] == SKY).all()
    rest = ~was_sky & ~was_car
    np.testing.assert_array_equal(result.labels[rest], clean[rest])


def test_errors_apply_in_protocol_order(clean: np.ndarray) -> None:
    result = inject_label_errors(clean, seed=0, rates=only(drop_sky=1.0, swap_sky_car=1.0))
    i = int(np.flatnonzero(((clean == SKY).any((1, 2))) & (clean == CAR).any((1, 2)))[0])
    assert result.kinds[i] == ["drop_sky", "swap_sky_car"]
    assert (result.labels[i][clean[i] == SKY] == UNLABELED).all()  # dropped, then nothing to swap
    assert (result.labels[i][clean[i] == CAR] == SKY).all()


@pytest.mark.parametrize(
    ("kind", "cls", "std"), [("shift_car", CAR, 1.5), ("shift_sky", SKY, None)]
)
def test_shift_deforms_the_outline_only(
    clean: np.ndarray, kind: str, cls: int, std: float | None
) -> None:
    variance = None if std is None else std**2
    result = inject_label_errors(clean, seed=0, rates=only(**{kind: 1.0}), shift_variance=variance)
    std_px = np.sqrt(result.shift_variance)
    if std is None:  # the default: the paper's 1200 px² at 1080 rows, scaled to 64 rows
        assert std_px == pytest.approx(np.sqrt(1200.0) * 64 / 1080)
    n_area_changed = n_with_class = 0
    for i in range(len(clean)):
        before, after, changed = clean[i], result.labels[i], result.changed[i]
        was = before == cls
        if not was.any():
            assert result.kinds[i] == []
            assert not changed.any()
            continue
        n_with_class += 1
        n_area_changed += int((after == cls).sum() != was.sum())
        assert result.kinds[i] == ([kind] if changed.any() else [])
        # a changed pixel either joined the class (growth) or left it for unlabeled (shrink)
        assert np.isin(after[changed], [cls, UNLABELED]).all()
        assert (was[changed & (after == UNLABELED)]).all()
        assert not (was & changed & (after != UNLABELED)).any()
        if changed.any():  # and it lies near the original outline
            assert max_distance(changed, edge(was)) <= 4 * std_px + 2
    assert n_with_class >= 12
    assert n_area_changed >= 0.8 * n_with_class


def test_shift_with_zero_variance_changes_nothing(clean: np.ndarray) -> None:
    result = inject_label_errors(
        clean, seed=0, rates=only(shift_sky=1.0, shift_car=1.0), shift_variance=0.0
    )
    np.testing.assert_array_equal(result.labels, clean)
    assert result.kinds == [[] for _ in range(len(clean))]


def test_shift_mask_on_a_disc() -> None:
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 30) ** 2 <= 12**2
    rng = np.random.default_rng(4)
    shifted = shift_mask(disc, std=3.0, rng=rng)
    assert shifted.dtype == bool
    assert shifted.shape == disc.shape
    assert (shifted != disc).any()
    assert max_distance(shifted != disc, edge(disc)) <= 4 * 3.0 + 2
    assert shifted[32, 30]  # the centre stays (the outline moves by far less than 12 px)
    assert not shifted[:5].any()  # nothing far away
    np.testing.assert_array_equal(shift_mask(disc, std=0.0, rng=rng), disc)


def test_shift_mask_deforms_each_component() -> None:
    mask = np.zeros((48, 48), dtype=bool)
    mask[5:15, 5:15] = True
    mask[30:42, 28:44] = True
    shifted = shift_mask(mask, std=2.0, rng=np.random.default_rng(0))
    assert (shifted[:24, :24] != mask[:24, :24]).any()
    assert (shifted[24:, 24:] != mask[24:, 24:]).any()


def test_changed_and_is_mislabeled_are_consistent(clean: np.ndarray) -> None:
    result = inject_label_errors(clean, seed=3, rates=ErrorRates(*(0.5,) * 5))
    np.testing.assert_array_equal(result.changed, result.labels != clean)
    np.testing.assert_array_equal(result.is_mislabeled, result.changed.any(axis=(1, 2)))
    assert [bool(k) for k in result.kinds] == result.is_mislabeled.tolist()
    assert result.labels.dtype == np.int64
    assert result.changed.dtype == bool
    assert result.is_mislabeled.shape == (len(clean),)


def test_input_is_not_modified_and_any_int_dtype_works(clean: np.ndarray) -> None:
    as_int8 = clean.astype(np.int8)
    copy = as_int8.copy()
    result = inject_label_errors(as_int8, seed=0, rates=ErrorRates(*(1.0,) * 5))
    np.testing.assert_array_equal(as_int8, copy)
    assert result.labels.dtype == np.int64
    assert result.is_mislabeled.any()


def test_reproducible_by_seed_and_stable_on_subsets(clean: np.ndarray) -> None:
    rates = ErrorRates(*(0.3,) * 5)
    a = inject_label_errors(clean, seed=9, rates=rates)
    b = inject_label_errors(clean, seed=9, rates=rates)
    c = inject_label_errors(clean, seed=10, rates=rates)
    head = inject_label_errors(clean[:5], seed=9, rates=rates)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.kinds == b.kinds
    assert a.kinds != c.kinds
    np.testing.assert_array_equal(head.labels, a.labels[:5])
    assert head.kinds == a.kinds[:5]
    assert a.seed == 9
    assert a.rates == rates


def test_as_table(clean: np.ndarray) -> None:
    result = inject_label_errors(clean, seed=2, rates=ErrorRates(*(0.4,) * 5))
    table = result.as_table()
    assert isinstance(result, InjectedErrors)
    assert len(table) == len(clean)
    for i, row in enumerate(table):
        assert row["image"] == i
        assert row["kinds"] == result.kinds[i]
        assert row["is_mislabeled"] == bool(result.is_mislabeled[i])
        assert row["n_changed_pixels"] == int(result.changed[i].sum())
        assert [row[kind] for kind in ERROR_KINDS] == [kind in row["kinds"] for kind in ERROR_KINDS]
        assert all(type(v) in (int, bool, list) for v in row.values())


def test_other_class_ids(clean: np.ndarray) -> None:
    paper_ids = ClassIds(sky=1, car=8, unlabeled=0)  # SYNTHIA's 20-class ids
    labels = np.where(clean == CAR, 8, np.where(clean == 8, CAR, clean))
    result = inject_label_errors(labels, seed=0, rates=only(drop_car=1.0), class_ids=paper_ids)
    assert not (result.labels == 8).any()
    np.testing.assert_array_equal(result.labels[labels != 8], labels[labels != 8])
