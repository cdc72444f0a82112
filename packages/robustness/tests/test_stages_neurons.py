import numpy as np
import pytest
import torch
from robustness_helpers import boot
from stages_fixtures import spiky_dir

from interplab.core.errors import ConfigError
from interplab.robustness.stages import census_weights, neuron_census

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")


@pytest.fixture(scope="module", params=["gpt2", "neox"])
def family(request):
    return request.param


@pytest.fixture(scope="module")
def model(family, tmp_path_factory):
    return boot(spiky_dir(tmp_path_factory, family))


@pytest.fixture(scope="module")
def processed(family, tmp_path_factory):
    """The same weights after TransformerLens's own process_weights (compatibility mode)."""
    bridge = boot(spiky_dir(tmp_path_factory, family))
    bridge.enable_compatibility_mode(disable_warnings=True)
    return bridge


def numpy_moments(w_out, w_u):
    """Reference §8.4 in numpy: cosines with unit unembedding columns, population moments."""
    w_out, w_u = np.asarray(w_out, dtype=np.float64), np.asarray(w_u, dtype=np.float64)
    u = w_u / np.linalg.norm(w_u, axis=0, keepdims=True)
    s = (w_out @ u) / np.linalg.norm(w_out, axis=-1, keepdims=True)  # [L, D, V]
    z = (s - s.mean(-1, keepdims=True)) / s.std(-1, keepdims=True)  # np.std: population
    return (z**4).mean(-1), (z**3).mean(-1), s.var(-1)


def test_processed_census_matches_numpy_on_transformer_lens_processed_weights(model, processed):
    census = neuron_census(model)
    kurt, skew, var = numpy_moments(processed.W_out.numpy(), processed.W_U.numpy())
    np.testing.assert_allclose(census.kurtosis, kurt, rtol=1e-6)
    np.testing.assert_allclose(census.skew, skew, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(census.variance, var, rtol=1e-6)
    assert census.kurtosis.shape == (4, 256) and census.weights == "processed"


def test_census_weights_equal_transformer_lens_processing(model, processed):
    w_out, w_u = census_weights(model)
    torch.testing.assert_close(torch.stack(w_out), processed.W_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w_u, processed.W_U, rtol=1e-5, atol=1e-6)


def test_processing_changes_the_moments_and_raw_matches_numpy_on_raw_weights(model):
    raw = neuron_census(model, weights="raw")
    kurt, skew, _ = numpy_moments(model.W_out.numpy(), model.W_U.numpy())
    np.testing.assert_allclose(raw.kurtosis, kurt, rtol=1e-6)
    np.testing.assert_allclose(raw.skew, skew, rtol=1e-6, atol=1e-9)
    done = neuron_census(model)
    assert np.abs(done.kurtosis - raw.kurtosis).max() > 0.05
    assert np.abs(done.skew - raw.skew).max() > 0.05


def test_counts_follow_the_threshold_and_the_skew_sign(model, processed):
    kurt, skew, _ = numpy_moments(processed.W_out.numpy(), processed.W_U.numpy())
    threshold = float(np.quantile(kurt, 0.7))  # random tiny models have kurtosis near 3
    census = neuron_census(model, kurtosis_threshold=threshold)
    expected_pred = ((kurt > threshold) & (skew > 0)).sum(1)
    expected_supp = ((kurt > threshold) & (skew < 0)).sum(1)
    np.testing.assert_array_equal(census.prediction_counts, expected_pred)
    np.testing.assert_array_equal(census.suppression_counts, expected_supp)
    assert census.prediction_counts.sum() > 0 and census.suppression_counts.sum() > 0
    assert neuron_census(model).prediction_counts.sum() == ((kurt > 10) & (skew > 0)).sum()
    frame = census.frame()
    assert len(frame) == 4 * 256
    assert (frame["kind"] == "prediction").sum() == expected_pred.sum()
    row = frame.iloc[300]
    assert (row["layer"], row["neuron"]) == (1, 44)
    assert row["kurtosis"] == pytest.approx(census.kurtosis[1, 44])


def test_callers_model_is_not_changed(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    neuron_census(model)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model._weights_processed is False


def test_an_already_processed_model_is_read_as_it_is(model, processed):
    np.testing.assert_allclose(
        neuron_census(processed).kurtosis, neuron_census(model).kurtosis, rtol=1e-5
    )


def test_bad_arguments_get_clear_errors(model):
    with pytest.raises(ConfigError, match=r"kurtosis_threshold=-1 must be a positive number"):
        neuron_census(model, kurtosis_threshold=-1)
    with pytest.raises(ConfigError, match=r"weights='folded' must be 'processed'"):
        neuron_census(model, weights="folded")
    with pytest.raises(ConfigError, match=r"not a TransformerBridge|lacks"):
        neuron_census("gpt2")
