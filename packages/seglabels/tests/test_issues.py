import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
from cleanlab.segmentation.filter import find_label_issues as cleanlab_find_label_issues
from cleanlab.segmentation.rank import get_label_quality_scores
from cleanlab.segmentation.rank import issues_from_scores as cleanlab_issues_from_scores

from interplab.core.errors import ConfigError
from interplab.seglabels import issues as issues_module
from interplab.seglabels.inputs import Batch
from interplab.seglabels.issues import confident_thresholds, find_label_issues, pool_batch
from interplab.seglabels.scores import image_scores, issues_from_scores, pixel_scores


def test_small_fixture_matches_reference_counts(small: tuple) -> None:
    labels, probs, _ = small
    mask = find_label_issues(labels, probs)
    assert mask.sum(axis=(1, 2)).tolist() == [27, 25, 0, 0, 0, 0, 0, 0]
    np.testing.assert_array_equal(
        image_scores(labels, probs, method="num_pixel_issues"),
        [0.9736328125, 0.9755859375, 1, 1, 1, 1, 1, 1],
    )


@pytest.mark.parametrize("fixture", ["small", "medium", "default"])
def test_masks_identical_to_cleanlab(fixture: str, request: pytest.FixtureRequest) -> None:
    labels, probs, _ = request.getfixturevalue(fixture)
    theirs = cleanlab_find_label_issues(labels, probs, n_jobs=1, verbose=False)
    ours = find_label_issues(labels, probs, batch_size=5)
    np.testing.assert_array_equal(ours, theirs)
    if fixture == "default":
        assert ours.sum() == 13_871  # the reference's count
    their_scores, _ = get_label_quality_scores(
        labels, probs, method="num_pixel_issues", n_jobs=1, verbose=False
    )
    np.testing.assert_array_equal(
        image_scores(labels, probs, method="num_pixel_issues"), their_scores
    )


def test_mask_does_not_depend_on_batch_size_or_dtype(medium: tuple) -> None:
    labels, probs, _ = medium
    expected = find_label_issues(labels, probs)
    for batch_size in (1, 7, 1000):
        np.testing.assert_array_equal(
            find_label_issues(labels, probs, batch_size=batch_size), expected
        )
    as64 = find_label_issues(labels, probs.astype(np.float64))
    np.testing.assert_array_equal(as64, expected)


def test_thresholds_are_per_class_means(medium: tuple) -> None:
    labels, probs, _ = medium
    expected = [probs[:, k][labels == k].astype(np.float64).mean() for k in range(probs.shape[1])]
    np.testing.assert_allclose(confident_thresholds(labels, probs), expected, rtol=1e-12)


def test_selection_by_hand_with_ties_broken_in_pixel_order() -> None:
    # 1 image, 2 classes, 1×6 pixels; labels all 0; four pixels predicted 1 confidently.
    p1 = np.array([0.9, 0.9, 0.9, 0.9, 0.2, 0.1])
    probs = np.stack([1 - p1, p1])[None, :, None, :]
    labels = np.zeros((1, 1, 6), dtype=np.int64)
    # t_1 = floor (no pixel labelled 1) -> every pixel with argmax 1 counts: 4 issues;
    # the 4 lowest self-confidences are the four 0.1s (tied): all flagged, all argmax != 0.
    mask = find_label_issues(labels, probs)
    assert mask[0, 0].tolist() == [True, True, True, True, False, False]
    # Now make only three issues count by labelling pixel 3 as class 1: t_1 = 0.9.
    labels[0, 0, 3] = 1
    mask = find_label_issues(labels, probs)
    assert mask[0, 0].tolist() == [True, True, True, False, False, False]


def test_ignore_index_pixels_are_never_flagged_nor_counted(medium: tuple) -> None:
    labels, probs, _ = medium
    void = labels.copy()
    void[:, :, :16] = 255
    mask = find_label_issues(void, probs, ignore_index=255)
    assert not mask[:, :, :16].any()
    cropped = find_label_issues(labels[:, :, 16:], np.ascontiguousarray(probs[:, :, :, 16:]))
    np.testing.assert_array_equal(mask[:, :, 16:], cropped)


def test_downsample_votes_labels_where_cleanlab_averages_class_ids() -> None:
    # A 2×2 block half class 2, half class 8: cleanlab's pooled label is round(5.0) = 5 (bug B1).
    labels = np.array([[[2, 2], [8, 8]]])
    probs = np.zeros((1, 10, 2, 2))
    probs[0, 2] = 0.5
    probs[0, 8] = 0.5
    batch = Batch(0, 1, labels, probs, None)
    pooled = pool_batch(batch, 2)
    assert pooled.labels.tolist() == [[[2]]]  # majority vote, tie -> lowest id; never 5
    assert np.round(labels.reshape(1, 1, 2, 1, 2).mean((4, 2))).item() == 5  # cleanlab's way
    np.testing.assert_allclose(pooled.pred_probs[0, :, 0, 0].sum(), 1.0)


def test_downsampling_leaves_void_pixels_probabilities_out(small: tuple) -> None:
    labels, probs, _ = small
    void = labels.copy()
    void[:, ::3, ::2] = 255  # void pixels scattered inside the 4×4 blocks
    elsewhere = probs.copy()  # other (valid) probabilities at the void pixels only
    at_void = np.broadcast_to((void == 255)[:, None], probs.shape)
    elsewhere[at_void] = np.roll(probs, 1, axis=1)[at_void]
    mask = find_label_issues(void, probs, downsample=4, ignore_index=255)
    np.testing.assert_array_equal(
        find_label_issues(void, elsewhere, downsample=4, ignore_index=255), mask
    )
    pooled = pool_batch(Batch(0, 8, np.where(void == 255, 0, void), probs, void != 255), 4)
    block = (void[0, :4, :4] != 255).ravel()
    by_hand = probs[0, :, :4, :4].reshape(-1, 16)[:, block].mean(axis=1)
    np.testing.assert_allclose(pooled.pred_probs[0, :, 0, 0], by_hand / by_hand.sum(), rtol=1e-6)


def test_downsampling_flags_fewer_false_issues_on_clean_images_than_cleanlab(medium: tuple) -> None:
    labels, probs, is_err = medium
    ours = find_label_issues(labels, probs, downsample=4)
    theirs = cleanlab_find_label_issues(labels, probs, downsample=4, n_jobs=1, verbose=False)
    clean = ~is_err
    assert ours[clean].sum() < theirs[clean].sum()
    print(f"false issue pixels on clean images, downsample=4: ours {ours[clean].sum()}, "
          f"cleanlab {theirs[clean].sum()}")  # fmt: skip


def test_issues_from_scores_does_not_return_cleanlabs_extra_image(small: tuple) -> None:
    # Bug B2: threshold 0.1 should select only image 0; cleanlab adds the next one.
    scores = np.array([0.5, 0.05, 0.9, 0.01, np.nan])
    assert list(cleanlab_issues_from_scores(scores[:4], threshold=0.1)) == [3, 1, 0]
    assert issues_from_scores(scores, threshold=0.1).tolist() == [3, 1]
    assert issues_from_scores(scores, threshold=0.0).tolist() == []
    labels, probs, _ = small
    pixels = pixel_scores(labels, probs)
    images = image_scores(labels, probs)
    np.testing.assert_array_equal(
        issues_from_scores(images, pixels, threshold=0.5),
        cleanlab_issues_from_scores(images, pixels, threshold=0.5),
    )
    with pytest.raises(ConfigError, match=r"threshold=2 must be in \[0, 1\]"):
        issues_from_scores(scores, threshold=2)


def test_bad_downsample(small: tuple) -> None:
    labels, probs, _ = small
    with pytest.raises(ConfigError, match=r"downsample=3 must be a positive divisor of H=32"):
        find_label_issues(labels, probs, downsample=3)


def reference_mask(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab's method in plain numpy, ties at the cutoff broken in pixel order."""
    n, k, h, w = probs.shape
    y = labels.reshape(-1)
    p = np.moveaxis(probs, 1, -1).reshape(-1, k).astype(np.float64)
    pixel = np.arange(len(y))
    s = p[pixel, y]
    t = np.array([p[y == c, c].mean() if (y == c).any() else 0.0 for c in range(k)])
    t = np.maximum(t, 2e-6)
    predicted = p.argmax(axis=1)
    num_issues = int(((predicted != y) & (p[pixel, predicted] >= t[predicted] - 1e-6)).sum())
    mask = np.zeros(len(y), dtype=bool)
    mask[np.lexsort((pixel, s))[:num_issues]] = True
    return (mask & (predicted != y)).reshape(n, h, w)


def quantized(n: int = 6, k: int = 4, h: int = 12, w: int = 10, seed: int = 0) -> tuple:
    """Probabilities in eighths: many exact ties, both of scores and of the largest class."""
    rng = np.random.default_rng(seed)
    parts = rng.multinomial(8, np.full(k, 1 / k), size=(n, h, w))  # (n, h, w, k), sums to 8
    probs = np.moveaxis(parts, -1, 1).astype(np.float32) / 8
    labels = rng.integers(0, k, size=(n, h, w))
    return labels, probs


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    """Force one way of computing the mask; returns the log of the helper passes that ran."""
    ran: list[str] = []
    for name in ("_histogram", "_add_resolved_ties", "_count_issues"):
        original = getattr(issues_module, name)

        def logged(*args: object, _name: str = name, _original: Callable = original) -> object:
            ran.append(_name)
            return _original(*args)

        monkeypatch.setattr(issues_module, name, logged)

    def force(mode: str) -> list[str]:
        if mode in ("histogram", "tiny_budget"):
            scan = issues_module._scan
            monkeypatch.setattr(issues_module, "_scan", lambda *a, **kw: dataclasses.replace(
                scan(*a, **kw), floor=-np.inf))  # fmt: skip
        if mode == "tiny_budget":  # the disagreeing pixels are not kept; radix passes
            monkeypatch.setattr(issues_module._Source, "budget", property(lambda self: 3))
        return ran

    return force


MODES = ["kept", "histogram", "tiny_budget"]


@pytest.mark.parametrize("mode", MODES)
def test_every_selection_path_matches_cleanlab(mode: str, medium: tuple, paths) -> None:
    labels, probs, _ = medium
    expected = cleanlab_find_label_issues(labels, probs, n_jobs=1, verbose=False)
    ran = paths(mode)
    for n_jobs in (1, 2):
        np.testing.assert_array_equal(find_label_issues(labels, probs, n_jobs=n_jobs), expected)
    assert ("_histogram" in ran) == (mode != "kept")
    assert ("_count_issues" in ran) == (mode == "tiny_budget")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_ties_follow_argmax_and_pixel_order(mode: str, seed: int, paths) -> None:
    labels, probs = quantized(seed=seed)
    expected = reference_mask(labels, probs)
    assert expected.any()
    ran = paths(mode)
    for batch_size in (1, 4):
        np.testing.assert_array_equal(find_label_issues(labels, probs, batch_size=batch_size),
                                      expected)  # fmt: skip
    np.testing.assert_array_equal(find_label_issues(labels, probs.astype(np.float64)), expected)
    if mode != "tiny_budget":  # ties between the label and an earlier class were resolved
        assert "_add_resolved_ties" in ran


def test_ignored_pixels_in_every_path(medium: tuple, paths) -> None:
    labels, probs, _ = medium
    void = labels.copy()
    void[:, 20:40, 10:30] = 255
    expected = find_label_issues(void, probs, ignore_index=255)
    paths("tiny_budget")
    np.testing.assert_array_equal(find_label_issues(void, probs, ignore_index=255), expected)
    assert not expected[:, 20:40, 10:30].any()


def test_threads_give_the_same_scores(medium: tuple) -> None:
    labels, probs, _ = medium
    expected = image_scores(labels, probs, method="num_pixel_issues")
    np.testing.assert_array_equal(
        image_scores(labels, probs, method="num_pixel_issues", n_jobs=2), expected
    )
    with pytest.raises(ConfigError, match=r"n_jobs=0 must be a positive number of threads"):
        find_label_issues(labels, probs, n_jobs=0)


def test_unchecked_values_give_the_same_mask(medium: tuple) -> None:
    labels, probs, _ = medium
    expected = find_label_issues(labels, probs)
    np.testing.assert_array_equal(find_label_issues(labels, probs, check_values=False), expected)
    np.testing.assert_array_equal(
        image_scores(labels, probs, method="num_pixel_issues", check_values=False),
        image_scores(labels, probs, method="num_pixel_issues"),
    )
    bad = labels.copy()
    bad[0, 0, 0] = 99
    with pytest.raises(ConfigError, match="labels hold 99"):
        find_label_issues(bad, probs)
