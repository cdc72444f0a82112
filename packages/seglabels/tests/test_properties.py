"""Properties of the scores on random shapes, classes and temperatures (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from interplab.seglabels.issues import find_label_issues
from interplab.seglabels.scores import image_scores, pixel_scores


@st.composite
def segmentation(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 5))
    k = draw(st.integers(2, 6))
    h = draw(st.integers(1, 9))
    w = draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, draw(st.floats(0.1, 6.0)), size=(n, k, h, w))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, k, size=(n, h, w))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return labels, probs.astype(dtype)


temperatures = st.floats(min_value=1e-3, max_value=50.0)


@settings(max_examples=60, deadline=None)
@given(segmentation(), temperatures)
def test_softmin_lies_between_min_and_mean(data: tuple, temperature: float) -> None:
    labels, probs = data
    s = pixel_scores(labels, probs).reshape(len(labels), -1)
    scores = image_scores(labels, probs, temperature=temperature)
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.all(scores >= s.min(axis=1) - 1e-12)
    assert np.all(scores <= s.mean(axis=1) + 1e-12)


@settings(max_examples=40, deadline=None)
@given(segmentation(), st.sampled_from(
    ["softmin", "mean", "min", "percentile", "below_threshold", "class_balanced_softmin",
     "num_pixel_issues"]))  # fmt: skip
def test_every_method_scores_in_unit_interval_and_ignores_batch_size(
    data: tuple, method: str
) -> None:
    labels, probs = data
    full = image_scores(labels, probs, method=method)
    assert full.shape == (len(labels),)
    assert np.all((full >= 0) & (full <= 1))
    for batch_size in (1, 2):
        np.testing.assert_array_equal(
            image_scores(labels, probs, method=method, batch_size=batch_size), full
        )


@settings(max_examples=40, deadline=None)
@given(segmentation())
def test_issue_mask_ignores_batch_size_and_never_flags_agreeing_pixels(data: tuple) -> None:
    labels, probs = data
    mask = find_label_issues(labels, probs)
    assert not (mask & (probs.argmax(axis=1) == labels)).any()
    for batch_size in (1, 3):
        np.testing.assert_array_equal(find_label_issues(labels, probs, batch_size=batch_size), mask)
