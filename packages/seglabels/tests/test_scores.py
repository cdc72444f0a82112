import numpy as np
import pytest
import torch
from cleanlab.segmentation.rank import get_label_quality_scores

from interplab.core.errors import ConfigError, ShapeError
from interplab.seglabels import inputs
from interplab.seglabels.issues import find_label_issues
from interplab.seglabels.scores import (
    IMAGE_SCORE_METHODS,
    image_scores,
    pixel_scores,
    register_image_score,
)


def softmin_by_hand(labels: np.ndarray, probs: np.ndarray, t: float = 0.1) -> np.ndarray:
    out = []
    for lab, p in zip(labels, probs, strict=True):
        s = np.take_along_axis(p, lab[None], axis=0)[0].astype(np.float64).ravel()
        w = np.exp((1 - s) / t - np.max((1 - s) / t))
        out.append(float(np.sum(w * s) / np.sum(w)))
    return np.array(out)


def test_softmin_matches_reference_values(small: tuple) -> None:
    labels, probs, is_err = small
    expected = [0.03851449541, 0.036553538883, 0.417697020795, 0.451577494673, 0.36462386472,
                0.486690613848, 0.530228569275, 0.406909229849]  # fmt: skip
    np.testing.assert_allclose(image_scores(labels, probs), expected, rtol=1e-9)
    assert is_err.tolist() == [True, True] + [False] * 6


@pytest.mark.parametrize("fixture", ["small", "medium", "default"])
def test_softmin_matches_cleanlab_to_1e_12(fixture: str, request: pytest.FixtureRequest) -> None:
    labels, probs, _ = request.getfixturevalue(fixture)
    ours = image_scores(labels, probs, method="softmin")
    theirs, their_pixels = get_label_quality_scores(labels, probs, method="softmin", verbose=False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(pixel_scores(labels, probs), their_pixels)


def test_softmin_matches_cleanlab_at_other_temperatures(medium: tuple) -> None:
    labels, probs, _ = medium
    for t in (0.01, 0.05, 0.5, 2.0):
        theirs, _ = get_label_quality_scores(labels, probs, temperature=t, verbose=False)
        ours = image_scores(labels, probs, temperature=t)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
        np.testing.assert_allclose(ours, softmin_by_hand(labels, probs, t), rtol=1e-12)


def test_other_methods_against_numpy(medium: tuple) -> None:
    labels, probs, _ = medium
    s = pixel_scores(labels, probs).reshape(len(labels), -1)
    np.testing.assert_allclose(image_scores(labels, probs, method="mean"), s.mean(axis=1))
    np.testing.assert_array_equal(image_scores(labels, probs, method="min"), s.min(axis=1))
    np.testing.assert_allclose(
        image_scores(labels, probs, method="percentile", q=5), np.percentile(s, 5, axis=1)
    )
    np.testing.assert_allclose(
        image_scores(labels, probs, method="below_threshold", threshold=0.3),
        1 - (s < 0.3).mean(axis=1),
    )
    flat_labels = labels.reshape(len(labels), -1)
    expected = []
    for i in range(len(labels)):
        per_class = []
        for k in np.unique(flat_labels[i]):
            v = s[i][flat_labels[i] == k]
            w = np.exp((1 - v) / 0.1 - np.max((1 - v) / 0.1))
            per_class.append(np.sum(w * v) / np.sum(w))
        expected.append(min(per_class))
    np.testing.assert_allclose(
        image_scores(labels, probs, method="class_balanced_softmin"), expected, rtol=1e-12
    )


def test_normalized_margin_against_numpy(small: tuple) -> None:
    labels, probs, _ = small
    given = np.take_along_axis(probs, labels[:, None], axis=1)[:, 0].astype(np.float64)
    others = probs.astype(np.float64).copy()
    np.put_along_axis(others, labels[:, None], -1.0, axis=1)
    expected = (given - others.max(axis=1) + 1) / 2
    np.testing.assert_allclose(pixel_scores(labels, probs, kind="normalized_margin"), expected)


def test_ignore_index_leaves_pixels_out(small: tuple) -> None:
    labels, probs, _ = small
    void = labels.copy()
    void[:, :8] = 255  # the top 8 rows are void
    ours = image_scores(void, probs, ignore_index=255, method="mean")
    s = np.take_along_axis(probs, labels[:, None], axis=1)[:, 0].astype(np.float64)
    np.testing.assert_allclose(ours, s[:, 8:].reshape(len(s), -1).mean(axis=1))
    np.testing.assert_allclose(
        image_scores(void, probs, ignore_index=255), softmin_by_hand(labels[:, 8:], probs[:, :, 8:])
    )
    assert np.isnan(pixel_scores(void, probs, ignore_index=255)[:, :8]).all()
    all_void = np.full_like(labels, 255)
    assert np.isnan(image_scores(all_void, probs, ignore_index=255)).all()


def test_batches_torch_and_memmap_give_the_same_scores(small: tuple, tmp_path) -> None:
    labels, probs, _ = small
    expected = image_scores(labels, probs)
    for batch_size in (1, 3, 100):
        np.testing.assert_array_equal(image_scores(labels, probs, batch_size=batch_size), expected)
    np.testing.assert_array_equal(
        image_scores(torch.from_numpy(labels), torch.from_numpy(probs)), expected
    )
    np.save(tmp_path / "p.npy", probs)
    mapped = np.load(tmp_path / "p.npy", mmap_mode="r")
    np.testing.assert_array_equal(image_scores(labels, mapped, batch_size=2), expected)


def test_float16_softmax_outputs_are_accepted_and_scored_like_their_float32_values() -> None:
    """The paper stores pred_probs as float16 (K=20): summed in float16 they miss 1 by ~2e-3."""
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(0, 4, size=(6, 20, 16, 16)).astype(np.float32))
    half = torch.softmax(logits, dim=1).half().numpy()
    labels = rng.integers(0, 20, size=(6, 16, 16))
    in_half = np.abs(np.add.reduce(half, axis=1) - 1)  # what the check used to do
    assert (in_half > inputs.PROB_TOLERANCE).mean() > 0.001
    widened = half.astype(np.float32)
    for method in ("softmin", "num_pixel_issues", "mean"):
        np.testing.assert_allclose(
            image_scores(labels, half, method=method),
            image_scores(labels, widened, method=method), rtol=1e-13,
        )  # fmt: skip
    np.testing.assert_array_equal(
        find_label_issues(labels, half), find_label_issues(labels, widened)
    )


def test_bfloat16_softmax_outputs_are_accepted_but_not_unnormalised_ones() -> None:
    """torch bfloat16 keeps 8 significant bits: its softmax sums miss 1 by up to ~2e-3."""
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(0, 4, size=(6, 20, 16, 16)).astype(np.float32))
    bf16 = torch.softmax(logits, dim=1).bfloat16()
    labels = rng.integers(0, 20, size=(6, 16, 16))
    sums = bf16.float().sum(dim=1)
    assert float((sums - 1).abs().max()) > inputs.PROB_TOLERANCE  # the float32 bound fails
    widened = bf16.float().numpy()
    for method in ("softmin", "num_pixel_issues"):
        np.testing.assert_allclose(
            image_scores(labels, bf16, method=method),
            image_scores(labels, widened, method=method, check_values=False), rtol=1e-13,
        )  # fmt: skip
    np.testing.assert_array_equal(
        find_label_issues(labels, bf16), find_label_issues(labels, widened, check_values=False)
    )
    with pytest.raises(ConfigError, match=r"do not sum to 1 .* \(tolerance 0\.004\)"):
        image_scores(labels, (bf16.float() * 1.01).bfloat16())


def test_a_new_method_is_a_small_function(small: tuple) -> None:
    @register_image_score("test_second_lowest")
    def second_lowest(pixel_scores, valid, labels):
        return np.sort(pixel_scores, axis=1)[:, 1]

    try:
        labels, probs, _ = small
        s = pixel_scores(labels, probs).reshape(len(labels), -1)
        np.testing.assert_array_equal(
            image_scores(labels, probs, method="test_second_lowest"), np.sort(s, axis=1)[:, 1]
        )
        with pytest.raises(ConfigError, match="'test_second_lowest' is already registered"):
            register_image_score("test_second_lowest")(second_lowest)

        @register_image_score("test_per_pixel")
        def per_pixel(pixel_scores, valid, labels):  # forgot to reduce over the pixels
            return pixel_scores

        with pytest.raises(
            ConfigError, match=r"'test_per_pixel' returned shape \(8, 1024\) for a batch of 8 "
        ):
            image_scores(labels, probs, method="test_per_pixel")
    finally:
        IMAGE_SCORE_METHODS.pop("test_second_lowest")
        IMAGE_SCORE_METHODS.pop("test_per_pixel", None)


def test_there_are_seven_methods() -> None:
    assert sorted([*IMAGE_SCORE_METHODS, "num_pixel_issues"]) == [
        "below_threshold", "class_balanced_softmin", "mean", "min", "num_pixel_issues",
        "percentile", "softmin",
    ]  # fmt: skip


def test_bad_input_is_named(small: tuple) -> None:
    labels, probs, _ = small
    with pytest.raises(ShapeError, match=r"labels has shape \(8, 32, 31\) but pred_probs"):
        image_scores(labels[:, :, :31], probs)
    with pytest.raises(ShapeError, match=r"pred_probs must have shape \(N, K, H, W\)"):
        image_scores(labels, probs[0])
    for size in (0, 1.5, True):
        with pytest.raises(ConfigError, match=rf"batch_size={size} must be a whole number"):
            image_scores(labels, probs, batch_size=size)
    with pytest.raises(ShapeError, match=r"the dataset is empty"):
        image_scores(labels[:0], probs[:0])
    bad = labels.copy()
    bad[3, 4, 5] = 7
    with pytest.raises(
        ConfigError, match=r"labels hold 7 at image 3, pixel \(4, 5\): outside 0\.\.4"
    ):
        image_scores(bad, probs)
    with pytest.raises(ConfigError, match=r"labels must be integers .* got dtype float64"):
        image_scores(labels.astype(np.float64), probs)
    nan = probs.copy()
    nan[2, 0, 0, 0] = np.nan
    nan[2, 1, 3, 1] = np.nan
    with pytest.raises(ConfigError, match=r"pred_probs hold NaN at image 2, pixel \(0, 0\)"):
        image_scores(labels, nan)
    negative = probs.copy()
    negative[5, 1, 2, 3] = -0.1
    negative[5, 0, 2, 4] = -0.2
    with pytest.raises(ConfigError, match=r"negative value at image 5, pixel \(2, 3\).*not logits"):
        image_scores(labels, negative)
    unnormalised = probs * 1.5
    with pytest.raises(
        ConfigError, match=r"do not sum to 1 over K at image 0, pixel \(0, 0\): sum 1\.5"
    ):
        image_scores(labels, unnormalised)
    with pytest.raises(ConfigError, match=r"temperature=0 must be > 0"):
        image_scores(labels, probs, temperature=0)
    with pytest.raises(ConfigError, match=r"method='softmax' is not a registered image score"):
        image_scores(labels, probs, method="softmax")
    with pytest.raises(ConfigError, match=r"q=101 must be a percentile"):
        image_scores(labels, probs, method="percentile", q=101)
    with pytest.raises(ConfigError, match=r"temperature=None must be > 0"):
        image_scores(labels, probs, temperature=None)
    with pytest.raises(ConfigError, match=r"method='mean' takes none; got \['temperature'\]"):
        image_scores(labels, probs, method="mean", temperature=0.1)
    with pytest.raises(ConfigError, match=r"'percentile' takes only q=; got \['p'\]"):
        image_scores(labels, probs, method="percentile", p=5)
    with pytest.raises(ConfigError, match=r"'num_pixel_issues' takes only downsample="):
        image_scores(labels, probs, method="num_pixel_issues", temperature=0.1)
    with pytest.raises(ConfigError, match=r"drop pixel_score='normalized_margin'"):
        image_scores(labels, probs, method="num_pixel_issues", pixel_score="normalized_margin")


def test_softmin_of_images_cut_into_many_chunks_on_threads(
    small: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels, probs, _ = small
    whole = {t: image_scores(labels, probs, temperature=t) for t in (1e-3, 0.1, 2.0)}
    monkeypatch.setattr(inputs, "_CHUNK_BYTES", 1024)  # 32×32 images in 21 chunks of 49 pixels
    monkeypatch.setattr(inputs, "_MIN_CHUNK_PIXELS", 16)
    void = labels.copy()
    void[:, :8] = 255
    for t in (1e-3, 0.1, 2.0):
        theirs, _ = get_label_quality_scores(labels, probs, temperature=t, verbose=False)
        for n_jobs in (1, 2):
            ours = image_scores(labels, probs, temperature=t, n_jobs=n_jobs)
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
            np.testing.assert_allclose(ours, whole[t], rtol=1e-13, atol=0)
            np.testing.assert_allclose(
                image_scores(void, probs, ignore_index=255, temperature=t, n_jobs=n_jobs),
                softmin_by_hand(labels[:, 8:], probs[:, :, 8:], t), rtol=1e-12,
            )  # fmt: skip


def test_unchecked_values_give_the_same_scores(medium: tuple) -> None:
    labels, probs, _ = medium
    for method in ("softmin", "mean", "class_balanced_softmin"):
        np.testing.assert_array_equal(
            image_scores(labels, probs, method=method, check_values=False),
            image_scores(labels, probs, method=method),
        )
    unnormalised = probs * 1.5  # accepted unchecked: wrong input, no error
    assert np.isfinite(image_scores(labels, unnormalised, check_values=False)).all()
    with pytest.raises(ConfigError, match="do not sum to 1"):
        image_scores(labels, unnormalised)


def test_ignored_pixels_may_hold_anything_and_change_no_result(medium: tuple) -> None:
    labels, probs, _ = medium
    void = labels.copy()
    void[:, 10:30, 5:40] = 255
    void[3] = 255  # an image with no labelled pixel
    junk = probs.copy()
    junk[:, 0, 10:20, 5:40] = np.nan  # at ignored pixels only: NaN, negative, unnormalised
    junk[:, 1, 20:25, 5:40] = -3.0
    junk[:, :, 25:30, 5:40] = 7.0
    junk[3] = np.nan
    for method in [*IMAGE_SCORE_METHODS, "num_pixel_issues"]:
        np.testing.assert_array_equal(
            image_scores(void, junk, method=method, ignore_index=255),
            image_scores(void, probs, method=method, ignore_index=255), err_msg=method,
        )  # fmt: skip
    np.testing.assert_array_equal(
        image_scores(void, junk, ignore_index=255, pixel_score="normalized_margin", method="mean"),
        image_scores(void, probs, ignore_index=255, pixel_score="normalized_margin", method="mean"),
    )
    for kind in ("self_confidence", "normalized_margin"):
        np.testing.assert_array_equal(
            pixel_scores(void, junk, kind=kind, ignore_index=255),
            pixel_scores(void, probs, kind=kind, ignore_index=255),
        )
    for downsample in (1, 2):
        mask = find_label_issues(void, junk, ignore_index=255, downsample=downsample)
        assert mask.any()
        np.testing.assert_array_equal(
            mask, find_label_issues(void, probs, ignore_index=255, downsample=downsample)
        )
    junk[5, 2, 40, 40] = np.nan  # a labelled pixel: still an error, after ignored NaN
    with pytest.raises(ConfigError, match=r"pred_probs hold NaN at image 5, pixel \(40, 40\)"):
        image_scores(void, junk, ignore_index=255)
    junk[5, 2, 40, 40] = -0.5
    with pytest.raises(ConfigError, match=r"negative value at image 5, pixel \(40, 40\)"):
        find_label_issues(void, junk, ignore_index=255)
