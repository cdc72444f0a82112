import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from interplab.core.errors import ConfigError, ShapeError
from interplab.seglabels.evaluate import evaluate, evaluate_by_kind


@pytest.mark.parametrize("seed", range(5))
def test_matches_sklearn_including_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.random(200) < 0.2
    scores = np.round(rng.random(200) - 0.3 * truth, 1)  # rounding makes many ties
    result = evaluate(scores, truth)
    assert result.auprc == pytest.approx(average_precision_score(truth, -scores), rel=1e-12)
    assert result.auroc == pytest.approx(roc_auc_score(truth, -scores), rel=1e-12)


def test_precision_recall_lift_at_k_by_hand() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    truth = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    result = evaluate(scores, truth)  # k = 3
    assert (result.k, result.precision_at_k, result.recall_at_k) == (3, 2 / 3, 2 / 3)
    assert result.lift_at_k == pytest.approx((2 / 3) / 0.3)
    assert evaluate(scores, truth, k=1).precision_at_k == 1.0


def test_ties_at_k_count_their_expected_share_whatever_the_order() -> None:
    # num_pixel_issues gives every image without flagged pixels exactly 1.0
    scores = np.array([0.2, 1.0, 1.0, 1.0, 1.0])
    truth = np.array([True, True, False, False, False])
    k2 = [evaluate(scores[order], truth[order]) for order in ([0, 1, 2, 3, 4], [0, 4, 3, 2, 1])]
    assert k2[0] == k2[1]
    # k = 2: image 0, then one of four tied images of which one is mislabeled
    assert k2[0].precision_at_k == pytest.approx((1 + 1 / 4) / 2)
    assert k2[0].recall_at_k == pytest.approx((1 + 1 / 4) / 2)
    everything_tied = evaluate(np.ones(8), np.arange(8) < 2, k=4)
    assert everything_tied.precision_at_k == pytest.approx(2 / 8)  # the base rate
    assert everything_tied.lift_at_k == pytest.approx(1.0)


def test_by_kind_compares_each_kind_with_clean_images_only() -> None:
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.3, 0.7])
    kinds = [["drop_sky"], ["swap_sky_car"], [], [], ["drop_sky", "swap_sky_car"], []]
    result = evaluate_by_kind(scores, kinds)
    assert result["drop_sky"].n_images == 5 and result["drop_sky"].n_mislabeled == 2
    assert result["drop_sky"].auprc == 1.0
    assert result["any"].n_mislabeled == 3


def test_errors() -> None:
    with pytest.raises(ShapeError, match=r"scores has shape \(3,\) and is_mislabeled \(2,\)"):
        evaluate([0.1, 0.2, 0.3], [True, False])
    with pytest.raises(ConfigError, match=r"scores contain NaN or infinity at images \[1\]"):
        evaluate([0.1, np.nan], [True, False])
    with pytest.raises(ConfigError, match=r"at images \[0, 1\]"):
        evaluate([np.inf, np.inf, 0.5], [True, False, True])
    with pytest.raises(ConfigError, match=r"is_mislabeled marks no image.*pass k"):
        evaluate([0.1, 0.2], [False, False])
    with pytest.raises(ConfigError, match=r"k=5 must be in 1\.\.2"):
        evaluate([0.1, 0.2], [True, False], k=5)
