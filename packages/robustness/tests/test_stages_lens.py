import math

import numpy as np
import pytest
import torch
from robustness_helpers import boot
from stages_fixtures import spiky_dir, varied_tokens

from interplab.core.errors import ConfigError
from interplab.robustness.stages import logit_lens
from interplab.robustness.stages._head import final_head

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")


@pytest.fixture(scope="module", params=["gpt2", "neox"])
def family(request):
    return request.param


@pytest.fixture(scope="module")
def model(family, tmp_path_factory):
    return boot(spiky_dir(tmp_path_factory, family))


@pytest.fixture(scope="module")
def processed(family, tmp_path_factory):
    bridge = boot(spiky_dir(tmp_path_factory, family))
    bridge.enable_compatibility_mode(disable_warnings=True)
    return bridge


@pytest.fixture(scope="module")
def tokens(model):
    return varied_tokens(model)


def _keep(mask):
    keep = np.zeros_like(mask)
    keep[:, 1:-1] = mask[:, 2:]  # predictions of a real next token, BOS position excluded
    return keep


def _reference(per_batch):
    """Stats from (lens logits [E, B, T, V], final logits [B, T, V], mask) triples, in numpy."""
    h, kl, rank, agree, n = 0.0, 0.0, 0.0, 0.0, 0
    for lens, final, mask in per_batch:
        keep = _keep(mask)
        z = lens[:, keep].astype(np.float64)  # [E, N, V]
        f = final[keep].astype(np.float64)
        logq = (
            z
            - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))
            - z.max(-1, keepdims=True)
        )
        logp = (
            f
            - np.log(np.exp(f - f.max(-1, keepdims=True)).sum(-1, keepdims=True))
            - f.max(-1, keepdims=True)
        )
        h = h - (np.exp(logq) * logq).sum((1, 2)) / math.log(2)
        kl = kl + (np.exp(logp) * (logp - logq)).sum((1, 2))
        top = f.argmax(-1)
        target = np.take_along_axis(z, np.broadcast_to(top[None, :, None], (len(z), len(f), 1)), -1)
        rank = rank + (1 + (z > target).sum(-1)).sum(-1)
        agree = agree + (z.argmax(-1) == top).sum(-1)
        n += int(keep.sum())
    return h / n, kl / n, rank / n, agree / n


def _doc_std(per_batch):
    """[E] std (ddof 1) over documents of each document's mean lens entropy, in numpy."""
    means = []
    for lens, _, mask in per_batch:
        keep = _keep(mask)
        z = lens.astype(np.float64)
        logq = z - z.max(-1, keepdims=True)
        logq = logq - np.log(np.exp(logq).sum(-1, keepdims=True))
        h = -(np.exp(logq) * logq).sum(-1) / math.log(2)  # [E, B, T]
        means += [h[:, row, keep[row]].mean(axis=1) for row in range(len(keep)) if keep[row].any()]
    return np.std(np.stack(means, axis=1), axis=1, ddof=1)


def test_recompute_lens_matches_transformer_lens_accumulated_resid(model, tokens):
    result = logit_lens(model, tokens, mode="recompute", add_bias=True)
    per_batch = []
    for batch in tokens:
        logits, cache = model.run_with_cache(batch.ids)
        acc = cache.accumulated_resid(apply_ln=True)  # TL 4: ln_final recomputed per layer
        per_batch.append((model.unembed(acc).numpy(), logits.numpy(), batch.mask.numpy()))
    h, kl, rank, agree = _reference(per_batch)
    np.testing.assert_allclose(result.entropy_bits, h, rtol=1e-4)
    np.testing.assert_allclose(result.kl_nats, kl, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(result.rank, rank, rtol=1e-6)
    np.testing.assert_allclose(result.top1_agreement, agree, rtol=1e-6)
    np.testing.assert_allclose(result.entropy_doc_std_bits, _doc_std(per_batch), rtol=1e-4)
    assert result.labels == ("embed", "L0", "L1", "L2", "L3")
    assert result.mode == "recompute" and result.add_bias is True
    # the last entry is the model's own distribution
    assert abs(result.kl_nats[-1]) < 1e-5 and result.top1_agreement[-1] == 1.0
    assert result.rank[-1] == 1.0
    assert result.entropy_bits[-1] == pytest.approx(result.final_entropy_bits, abs=1e-5)
    assert result.kl_nats[0] > 0.05  # the embeddings are far from the final distribution


def test_last_entry_is_the_models_logits(model, tokens):
    head = final_head(model)
    for batch in tokens:
        logits, cache = model.run_with_cache(batch.ids)
        final = cache[f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"]
        for scale in (None, cache["ln_final.hook_scale"]):  # recompute / cached final scale
            mine = head.logits(final, scale=scale)
            torch.testing.assert_close(mine, logits, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("add_bias", [False, True])
def test_cached_final_scale_matches_the_paper_lens_on_processed_weights(
    model, processed, tokens, add_bias
):
    """TL's paper-parity lens (apply_ln_to_stack(recompute_ln=False)) needs processed weights."""
    result = logit_lens(model, tokens, mode="cached_final_scale", add_bias=add_bias)
    per_batch = []
    n = processed.cfg.n_layers
    for batch in tokens:
        logits, cache = processed.run_with_cache(batch.ids)
        stack = cache.apply_ln_to_stack(cache.accumulated_resid(), layer=n, recompute_ln=False)
        lens = stack @ processed.W_U + (processed.b_U if add_bias else 0)
        per_batch.append((lens.numpy(), logits.numpy(), batch.mask.numpy()))
    h, kl, rank, agree = _reference(per_batch)
    np.testing.assert_allclose(result.entropy_bits, h, rtol=1e-4)
    np.testing.assert_allclose(result.kl_nats, kl, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(result.rank, rank, rtol=1e-6)
    np.testing.assert_allclose(result.top1_agreement, agree, atol=1e-9)
    assert result.mode == "cached_final_scale" and result.add_bias is add_bias
    if add_bias:
        assert abs(result.kl_nats[-1]) < 1e-5 and result.top1_agreement[-1] == 1.0
    else:  # β and b_U dropped: the last entry is no longer the model's distribution
        assert result.kl_nats[-1] > 1e-4


def test_modes_differ_and_the_cached_scale_inflates_early_entropy(model, tokens):
    recompute = logit_lens(model, tokens, mode="recompute", add_bias=True)
    cached = logit_lens(model, tokens, mode="cached_final_scale", add_bias=True)
    np.testing.assert_allclose(recompute.entropy_bits[-1], cached.entropy_bits[-1], rtol=1e-5)
    assert np.abs(recompute.entropy_bits[:-1] - cached.entropy_bits[:-1]).max() > 1e-2


def test_processed_model_gives_the_same_trajectories_and_models_stay_untouched(
    model, processed, tokens
):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for mode in ("recompute", "cached_final_scale"):
        raw = logit_lens(model, tokens, mode=mode, add_bias=True)
        done = logit_lens(processed, tokens, mode=mode, add_bias=True)
        np.testing.assert_allclose(raw.entropy_bits, done.entropy_bits, rtol=1e-4)
        np.testing.assert_allclose(raw.kl_nats, done.kl_nats, rtol=1e-3, atol=1e-5)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model._weights_processed is False


def test_deleted_block_is_skipped_in_execution_order(model, tokens):
    removed = model.blocks[2]
    del model.blocks[2]
    try:
        result = logit_lens(model, tokens, mode="recompute", add_bias=True)
        per_batch = []
        for batch in tokens:
            logits, cache = model.run_with_cache(batch.ids)
            names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in (0, 1, 3)]
            acc = torch.stack([cache[n] for n in names])
            lens = model.unembed(model.ln_final(acc))
            per_batch.append((lens.numpy(), logits.numpy(), batch.mask.numpy()))
    finally:
        model.blocks.insert(2, removed)
    h, kl, _, _ = _reference(per_batch)
    assert result.labels == ("embed", "L0", "L1", "L2")
    np.testing.assert_allclose(result.entropy_bits, h, rtol=1e-4)
    np.testing.assert_allclose(result.kl_nats, kl, rtol=1e-3, atol=1e-5)


def test_include_bos_adds_one_position_per_document(model, tokens):
    without = logit_lens(model, tokens, add_bias=True)
    with_bos = logit_lens(model, tokens, add_bias=True, include_bos=True)
    assert with_bos.n_positions == without.n_positions + 7


def test_bad_arguments_get_clear_errors(model, tokens):
    with pytest.raises(ConfigError, match=r"mode='tuned' is not a logit-lens normalisation"):
        logit_lens(model, tokens, mode="tuned", add_bias=True)
    with pytest.raises(ConfigError, match=r"add_bias=None must be True or False"):
        logit_lens(model, tokens, add_bias=None)
    with pytest.raises(TypeError, match="add_bias"):
        logit_lens(model, tokens)  # the bias is an explicit choice


def test_inside_intervene_block_ablations_and_deletions_are_seen(model, tokens):
    from interplab.robustness.interventions import Ablate, Delete, intervene

    with intervene(model, Ablate(1)):  # a forward hook makes block 1 the identity
        ablated = logit_lens(model, tokens, add_bias=True)
    np.testing.assert_allclose(ablated.entropy_bits[2], ablated.entropy_bits[1], rtol=1e-6)
    with intervene(model, Delete(1)):
        deleted = logit_lens(model, tokens, add_bias=True)
    assert len(deleted.entropy_bits) == 4
    np.testing.assert_allclose(deleted.entropy_bits, np.delete(ablated.entropy_bits, 2), rtol=1e-5)
