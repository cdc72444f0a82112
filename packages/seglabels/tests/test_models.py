import numpy as np
import pytest

from interplab.core.errors import ConfigError, ShapeError
from interplab.seglabels import models
from interplab.seglabels.data import make_street_scenes
from interplab.seglabels.models import (
    SegmenterSpec,
    build_segmenter,
    cross_val_pred_probs,
    predict_probs,
    train_segmenter,
)

FAST = SegmenterSpec(epochs=2, batch_size=8, decoder_channels=32)


@pytest.fixture(scope="module")
def scenes():
    return make_street_scenes(12, size=64, seed=3)


@pytest.mark.parametrize("architecture", ["deeplabv3plus", "fpn"])
def test_probabilities_have_the_right_shape_and_sum_to_one(scenes, architecture: str) -> None:
    k = len(scenes.class_names)
    spec = SegmenterSpec(architecture=architecture, epochs=1, batch_size=8, decoder_channels=32)
    model = train_segmenter(scenes.images[:8], scenes.labels[:8], k, spec, seed=0)
    probs = predict_probs(model, scenes.images[8:])
    assert probs.shape == (4, k, 64, 64) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()


def test_training_is_deterministic_by_seed(scenes) -> None:
    k = len(scenes.class_names)
    a = predict_probs(
        train_segmenter(scenes.images[:8], scenes.labels[:8], k, FAST, seed=1), scenes.images[8:]
    )
    b = predict_probs(
        train_segmenter(scenes.images[:8], scenes.labels[:8], k, FAST, seed=1), scenes.images[8:]
    )
    c = predict_probs(
        train_segmenter(scenes.images[:8], scenes.labels[:8], k, FAST, seed=2), scenes.images[8:]
    )
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_cross_validation_never_scores_an_image_with_a_model_that_saw_it(
    scenes, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained_on: list[set[bytes]] = []
    real = models.train_segmenter

    def spy(images, labels, *args, **kwargs):
        trained_on.append({image.tobytes() for image in images})
        return real(images, labels, *args, **kwargs)

    monkeypatch.setattr(models, "train_segmenter", spy)
    k = len(scenes.class_names)
    probs = cross_val_pred_probs(scenes.images, scenes.labels, k, FAST, n_folds=3, seed=0)
    assert probs.shape == (12, k, 64, 64) and len(trained_on) == 3
    for seen in trained_on:
        assert len(seen) == 8  # the other two folds
    everything = {image.tobytes() for image in scenes.images}
    held_out = [everything - seen for seen in trained_on]
    assert set().union(*held_out) == everything  # each image held out exactly once
    assert sum(len(h) for h in held_out) == 12


def test_a_trained_model_beats_the_majority_class() -> None:
    scenes = make_street_scenes(40, size=64, seed=11)
    k = len(scenes.class_names)
    spec = SegmenterSpec(architecture="fpn", epochs=12)
    model = train_segmenter(scenes.images[:32], scenes.labels[:32], k, spec, seed=0)
    accuracy = (predict_probs(model, scenes.images[32:]).argmax(1) == scenes.labels[32:]).mean()
    majority = np.bincount(scenes.labels[:32].ravel()).max() / scenes.labels[:32].size
    print(f"held-out pixel accuracy {accuracy:.3f} vs majority class {majority:.3f}")
    assert accuracy > majority + 0.2


def test_errors(scenes) -> None:
    with pytest.raises(ConfigError, match=r"architecture='unet' is not known"):
        build_segmenter(SegmenterSpec(architecture="unet"), 9)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"images must be \(N, 3, H, W\)"):
        predict_probs(None, scenes.images[:, :2])
    with pytest.raises(ConfigError, match=r"n_folds=1 does not fit 12 images"):
        cross_val_pred_probs(scenes.images, scenes.labels, 9, FAST, n_folds=1, seed=0)
    with pytest.raises(ConfigError, match=r"n_folds=2 does not fit 3 images.*at least 2 images"):
        cross_val_pred_probs(scenes.images[:3], scenes.labels[:3], 9, FAST, n_folds=2, seed=0)
    with pytest.raises(ConfigError, match=r"got 1 image\(s\) and batch_size=8"):
        train_segmenter(scenes.images[:1], scenes.labels[:1], 9, FAST, seed=0)
