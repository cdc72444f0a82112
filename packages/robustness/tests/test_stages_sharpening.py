import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from robustness_helpers import boot
from stages_fixtures import spiky_dir, varied_tokens

from interplab.core.errors import ConfigError
from interplab.robustness.stages import residual_sharpening

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")


@pytest.fixture(scope="module", params=["gpt2", "neox"])
def model(request, tmp_path_factory):
    return boot(spiky_dir(tmp_path_factory, request.param))


@pytest.fixture(scope="module")
def tokens(model):
    return varied_tokens(model, n_docs=4, batch_size=2, seq_len=32)


def _entropy_bits(logits):
    logp = torch.log_softmax(logits.double(), -1)
    return -(logp.exp() * logp).sum(-1) / math.log(2)


def _keep(mask):
    keep = torch.zeros_like(mask)
    keep[:, 1:-1] = mask[:, 2:]
    return keep


def _ablated_mean_entropy(model, tokens, neuron=None):
    """Mean output entropy with one last-layer neuron zero-ablated by a TransformerLens hook."""
    last = model.cfg.n_layers - 1

    def zero(post, hook):
        post[..., neuron] = 0.0
        return post

    hooks = [] if neuron is None else [(f"blocks.{last}.mlp.hook_post", zero)]
    total, count = 0.0, 0
    for batch in tokens:
        logits = model.run_with_hooks(batch.ids, fwd_hooks=hooks)
        keep = _keep(batch.mask)
        total += float(_entropy_bits(logits[keep]).sum())
        count += int(keep.sum())
    return total / count


def test_exact_neuron_effects_equal_brute_force_ablation(model, tokens):
    result = residual_sharpening(model, tokens, method="exact")
    base = _ablated_mean_entropy(model, tokens)
    chosen = [*result.top_neurons(3), *np.argsort(result.neuron_effect_bits)[:2], 100]
    for neuron in chosen:
        brute = _ablated_mean_entropy(model, tokens, int(neuron)) - base
        assert result.neuron_effect_bits[neuron] == pytest.approx(brute, abs=2e-5)
    assert np.abs(result.neuron_effect_bits).max() > 1e-3
    assert result.method == "exact" and result.layer == 3


def test_entropy_before_and_after_the_last_block(model, tokens):
    result = residual_sharpening(model, tokens, method="first_order")
    before, after = [], []
    for batch in tokens:
        logits, cache = model.run_with_cache(batch.ids)
        keep = _keep(batch.mask)
        x_in = cache[f"blocks.{model.cfg.n_layers - 1}.hook_resid_pre"]
        before.append(_entropy_bits(model.unembed(model.ln_final(x_in))[keep]))
        after.append(_entropy_bits(logits[keep]))
    before, after = torch.cat(before).numpy(), torch.cat(after).numpy()
    np.testing.assert_allclose(result.entropy_before_bits, before, rtol=1e-5)
    np.testing.assert_allclose(result.entropy_after_bits, after, rtol=1e-5)
    assert result.mean_entropy_change_bits == pytest.approx(
        float(np.mean(after - before)), abs=1e-5
    )
    assert result.fraction_sharpened == pytest.approx(float(np.mean(after < before)))
    assert len(result.doc_ids) == len(result.positions) == len(before)
    assert result.positions.min() == 1  # BOS's prediction is left out by default


def test_first_order_effects_equal_a_finite_difference(model, tokens):
    """−a_i ∇H·w_i against a central difference of H along −a_i w_i, in float64."""
    result = residual_sharpening(model, tokens, method="first_order")
    last = model.cfg.n_layers - 1
    ln = model.ln_final.original_component
    w_u, w_out = model.W_U.double(), model.blocks[last].mlp.W_out.double()
    d = model.cfg.d_model

    def entropy(x):
        h = F.layer_norm(x, (d,), ln.weight.double(), ln.bias.double(), ln.eps)
        return _entropy_bits(h @ w_u + model.b_U.double())

    neurons = [int(i) for i in result.top_neurons(3)] + [7]
    eps = 1e-4
    sums, count = np.zeros(len(neurons)), 0
    for batch in tokens:
        _, cache = model.run_with_cache(batch.ids)
        keep = _keep(batch.mask)
        x = cache[f"blocks.{last}.hook_resid_post"][keep].double()
        post = cache[f"blocks.{last}.mlp.hook_post"][keep].double()
        for j, i in enumerate(neurons):
            step = post[:, i : i + 1] * w_out[i]
            sums[j] += float(
                ((entropy(x - eps * step) - entropy(x + eps * step)) / (2 * eps)).sum()
            )
        count += int(keep.sum())
    np.testing.assert_allclose(
        result.neuron_effect_bits[neurons], sums / count, rtol=1e-3, atol=1e-6
    )


def test_first_order_ranks_like_exact(model, tokens):
    exact = residual_sharpening(model, tokens, method="exact").neuron_effect_bits
    first = residual_sharpening(model, tokens, method="first_order").neuron_effect_bits
    assert np.corrcoef(exact, first)[0, 1] > 0.9


def test_last_executed_block_is_used_after_a_deletion(model, tokens):
    removed = model.blocks[3]
    del model.blocks[3]
    try:
        result = residual_sharpening(model, tokens, method="first_order")
        after = []
        for batch in tokens:
            logits = model(batch.ids)
            after.append(_entropy_bits(logits[_keep(batch.mask)]))
    finally:
        model.blocks.insert(3, removed)
    assert result.layer == 2
    np.testing.assert_allclose(result.entropy_after_bits, torch.cat(after).numpy(), rtol=1e-5)


def test_bad_method_gets_a_clear_error(model, tokens):
    with pytest.raises(ConfigError, match=r"method='taylor' is not known"):
        residual_sharpening(model, tokens, method="taylor")
