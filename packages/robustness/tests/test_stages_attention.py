from collections import defaultdict

import numpy as np
import pytest
import torch
from robustness_helpers import boot, toy_corpus
from stages_fixtures import save_spiky, spiky_dir, varied_tokens

from interplab.core.errors import ConfigError
from interplab.robustness.stages import (
    attention_locality,
    detokenization_scores,
    previous_token_scores,
    subjoiner_scores,
    word_starts,
)
from interplab.robustness.stages._capture import run_captured
from interplab.robustness.tokens import load_tokens

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")


@pytest.fixture(scope="module", params=["gpt2", "neox"])
def model(request, tmp_path_factory):
    return boot(spiky_dir(tmp_path_factory, request.param))


@pytest.fixture(scope="module")
def tokens(model):
    return varied_tokens(model)


def _patterns(model, tokens, names=None):
    """Per batch: (mask, {layer: [B, H, T, T] numpy}) from TransformerLens's own cache."""
    out = []
    for batch in tokens:
        _, cache = model.run_with_cache(
            batch.ids, names_filter=lambda n: n.endswith("hook_pattern")
        )
        keys = names or [f"blocks.{i}.attn.hook_pattern" for i in range(model.cfg.n_layers)]
        out.append((batch.mask.numpy(), [cache[k].float().numpy() for k in keys]))
    return out


def _hand_locality(per_batch, k, include_bos):
    start = 0 if include_bos else 1
    docs = []
    for mask, layers in per_batch:
        for row in range(mask.shape[0]):
            n = int(mask[row].sum())
            scores = []
            for a in layers:
                vals = [a[row, h, q, q - i] for h in range(a.shape[1]) for q in range(n)
                        for i in range(1, k + 1) if q - i >= start]  # fmt: skip
                scores.append(np.mean(vals) if vals else np.nan)
            docs.append(scores)
    docs = np.array(docs)
    docs = docs[~np.isnan(docs).any(axis=1)]
    return docs.mean(0), docs.std(0, ddof=1) / np.sqrt(len(docs))


@pytest.mark.parametrize(("k", "include_bos"), [(5, False), (3, True)])
def test_locality_matches_a_hand_loop_over_the_raw_patterns(model, tokens, k, include_bos):
    result = attention_locality(model, tokens, k=k, include_bos=include_bos)
    mean, sem = _hand_locality(_patterns(model, tokens), k, include_bos)
    np.testing.assert_allclose(result.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(result.sem, sem, rtol=1e-4)
    assert result.n_docs == 7 and result.k == k and result.include_bos is include_bos
    np.testing.assert_allclose(result.relative_depth, [0, 1 / 3, 2 / 3, 1])


def test_bos_flag_changes_the_locality(model, tokens):
    with_bos = attention_locality(model, tokens, include_bos=True).mean
    without = attention_locality(model, tokens, include_bos=False).mean
    assert np.abs(with_bos - without).max() > 1e-3


def test_padding_does_not_change_any_score(model, tokens):
    batched = detokenization_scores(model, tokens)
    docs = [d[: 12 + 17 * i] for i, d in enumerate(toy_corpus(7))]
    alone = load_tokens(docs, model, token_budget=10_000, seq_len=48, batch_size=1)
    single = detokenization_scores(model, alone)
    np.testing.assert_allclose(batched.locality.per_doc, single.locality.per_doc, rtol=1e-4)
    np.testing.assert_allclose(batched.previous_token, single.previous_token, rtol=1e-4)
    np.testing.assert_allclose(batched.subjoiner.score, single.subjoiner.score, atol=1e-5)


def test_previous_token_scores_match_a_hand_loop(model, tokens):
    scores = previous_token_scores(model, tokens, include_bos=False)
    total, count = 0.0, 0
    for mask, layers in _patterns(model, tokens):
        a = np.stack(layers)  # [L, B, H, T, T]
        for row in range(mask.shape[0]):
            for q in range(2, int(mask[row].sum())):
                total = total + a[:, row, :, q, q - 1]
                count += 1
    np.testing.assert_allclose(scores, total / count, rtol=1e-5)
    assert scores.shape == (4, 4)


class _Decoder:
    def __init__(self, pieces):
        self.pieces = pieces

    def decode(self, ids):
        return "".join(self.pieces[i] for i in ids)


def test_word_starts_follow_the_documented_definition():
    pieces = ["<bos>", " foo", "bar", "(", "baz", " qux", "!", "x", "9"]
    ids = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0], [0, 2, 2, 1, 2, 0, 0, 0, 0, 0, 0]])
    mask = torch.tensor([[True] * 9 + [False] * 2, [True] * 5 + [False] * 6])
    starts = word_starts(ids, mask, _Decoder(pieces))
    assert starts.tolist() == [
        [-1, 1, 1, 3, 4, 5, 6, 7, 7, -1, -1],
        [-1, 1, 1, 3, 3, -1, -1, -1, -1, -1, -1],
    ]


def _hand_subjoiner(per_batch, ids_batches, tokenizer, max_offset):
    """Plain loops: baseline matched per (offset m, query position q) bucket."""
    text = {}
    cont_sum, cont_n = defaultdict(float), defaultdict(int)  # keyed by (m, q)
    base_sum, base_n = defaultdict(float), defaultdict(int)
    for (mask, layers), ids in zip(per_batch, ids_batches, strict=True):
        a = np.stack(layers)  # [L, B, H, T, T]
        for row in range(mask.shape[0]):
            n = int(mask[row].sum())
            toks = [int(t) for t in ids[row, :n]]
            for t in toks:
                text.setdefault(t, tokenizer.decode([t]))
            start = None
            for q in range(1, n):
                joins = (q >= 2 and text[toks[q]][:1].isalnum()
                         and text[toks[q - 1]][-1:].isalnum())  # fmt: skip
                start = start if joins else q
                m = q - start
                if 1 <= m <= max_offset:
                    cont_sum[m, q] = cont_sum[m, q] + a[:, row, :, q, start:q].sum(-1)
                    cont_n[m, q] += 1
                elif m == 0:
                    for mm in range(1, max_offset + 1):
                        if q - mm >= 1:
                            base_sum[mm, q] = base_sum[mm, q] + a[:, row, :, q, q - mm : q].sum(-1)
                            base_n[mm, q] += 1
    usable = [key for key in cont_n if base_n[key]]
    total = sum(cont_n[key] for key in usable)
    within = sum(cont_sum[key] for key in usable) / total
    baseline = sum(cont_n[key] * base_sum[key] / base_n[key] for key in usable) / total
    return within, baseline, total


def test_subjoiner_scores_match_a_hand_loop(model, tokens):
    result = subjoiner_scores(model, tokens, max_offset=4)
    within, baseline, n = _hand_subjoiner(
        _patterns(model, tokens), [b.ids for b in tokens], model.tokenizer, 4
    )
    assert result.n_queries == n > 20
    np.testing.assert_allclose(result.within, within, rtol=1e-5)
    np.testing.assert_allclose(result.baseline, baseline, rtol=1e-5)
    np.testing.assert_allclose(result.score, within - baseline, atol=1e-6)
    assert np.abs(result.score).max() > 1e-3


def _long_tokens(model):
    """16 rows of up to 64 tokens (several toy documents per row), some right-padded."""
    docs = toy_corpus(64)
    docs = [" ".join(docs[4 * i : 4 * i + 4])[: 150 + 40 * i] for i in range(16)]
    return load_tokens(docs, model, token_budget=16 * 64, seq_len=64, batch_size=4, windows=False)


def _zero_query_key(path, family):
    """Zero every query and key weight and bias: each head's attention is exactly uniform."""
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(path)
    d, heads = hf.config.hidden_size, hf.config.num_attention_heads
    with torch.no_grad():
        if family == "gpt2":  # Conv1D [d_in, 3 d_out], columns q | k | v
            for block in hf.transformer.h:
                block.attn.c_attn.weight[:, : 2 * d] = 0
                block.attn.c_attn.bias[: 2 * d] = 0
        else:  # Linear [3 d_out, d_in], rows per head: q | k | v of head_size each
            size = d // heads
            for layer in hf.gpt_neox.layers:
                qkv = layer.attention.query_key_value
                rows = torch.arange(3 * d).view(heads, 3 * size)[:, : 2 * size].reshape(-1)
                qkv.weight[rows] = 0
                qkv.bias[rows] = 0
    hf.save_pretrained(path, safe_serialization=True)
    return path


@pytest.mark.parametrize("family", ["gpt2", "neox"])
def test_uniform_attention_scores_zero_on_every_head(family, tmp_path):
    model = boot(_zero_query_key(save_spiky(tmp_path, family), family))
    tokens = _long_tokens(model)
    a = run_captured(model, tokens.batches[0].ids, patterns=True).patterns[0][0, 0]
    np.testing.assert_allclose(a[5, :6], np.full(6, 1 / 6), rtol=1e-5)  # uniform indeed
    result = subjoiner_scores(model, tokens)
    assert result.n_queries > 100
    assert np.abs(result.within - result.within.mean()).max() < 1e-5  # no head prefers anything
    np.testing.assert_allclose(result.score, 0.0, atol=1e-6)


def test_constructed_heads_score_as_documented(model):
    """Layer 0's pattern replaced: head 0 reads only the previous piece of the query's own word
    (word-initial queries read BOS), head 1 only BOS, head 2 always the previous token, head 3
    is uniform. Analytic scores 1, 0, 0, 0 (head 0: within 1, baseline 0; head 2: within =
    baseline = 1)."""
    tokens = _long_tokens(model)
    starts = iter([word_starts(b.ids, b.mask, model.tokenizer) for b in tokens])

    def replace(_module, _args, output):
        st = next(starts)  # one forward pass per batch, in order
        t = output.shape[-1]
        pos = torch.arange(t)
        bos = torch.zeros(t, t)
        bos[:, 0] = 1.0
        prev = torch.diag(torch.ones(t - 1), -1)
        prev[0, 0] = 1.0
        cont = (pos[None, :] > st) & (st >= 1)  # [B, T] continuation pieces
        new = torch.zeros_like(output)
        new[:, 0] = torch.where(cont[:, :, None], prev, bos)
        new[:, 1], new[:, 2] = bos, prev
        new[:, 3] = torch.tril(torch.ones(t, t)) / (pos[:, None] + 1)
        return new

    handle = model.blocks[0].attn.hook_pattern.register_forward_hook(replace)
    try:
        result = subjoiner_scores(model, tokens, max_offset=8)
    finally:
        handle.remove()
    np.testing.assert_allclose(result.within[0], [1, 0, 1, result.within[0, 3]], atol=1e-6)
    np.testing.assert_allclose(result.baseline[0, :3], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(result.score[0], [1, 0, 0, 0], atol=1e-6)


def test_deleted_and_swapped_blocks_are_read_in_execution_order(model, tokens):
    blocks = model.blocks
    removed = blocks[1]
    del blocks[1]
    try:
        result = attention_locality(model, tokens)
        names = [f"blocks.{i}.attn.hook_pattern" for i in (0, 2, 3)]
        expected, _ = _hand_locality(_patterns(model, tokens, names), 5, False)
    finally:
        blocks.insert(1, removed)
    assert result.mean.shape == (3,)
    np.testing.assert_allclose(result.mean, expected, rtol=1e-5)
    blocks[1], blocks[2] = blocks[2], blocks[1]
    try:
        swapped = previous_token_scores(model, tokens)
    finally:
        blocks[1], blocks[2] = blocks[2], blocks[1]
    plain = previous_token_scores(model, tokens)
    np.testing.assert_allclose(swapped[0], plain[0], rtol=1e-5)  # block 0 sees the same input
    assert np.abs(swapped[1] - plain[2]).max() > 1e-4  # block 2 now reads block 0's output


def test_a_repeated_block_is_counted_twice(model, tokens):
    model.blocks.insert(2, model.blocks[1])
    try:
        result = attention_locality(model, tokens)
    finally:
        del model.blocks[2]
    assert result.mean.shape == (5,) and np.isfinite(result.mean).all()


def test_bad_arguments_get_clear_errors(model, tokens):
    with pytest.raises(ConfigError, match=r"k=0 must be an integer >= 1"):
        attention_locality(model, tokens, k=0)
    with pytest.raises(ConfigError, match=r"max_offset=0"):
        subjoiner_scores(model, tokens, max_offset=0)
    with pytest.raises(ConfigError, match=r"tokens of type Tensor"):
        attention_locality(model, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"lacks \['blocks'"):
        attention_locality(object(), tokens)
    batch = tokens.batches[0]
    bad = type(batch)(batch.ids + model.cfg.d_vocab, batch.mask, batch.doc_ids)
    with pytest.raises(ConfigError, match=r"outside the model's vocabulary"):
        attention_locality(model, bad)


def test_a_model_in_training_mode_is_read_without_dropout_and_put_back(model, tokens):
    expected = attention_locality(model, tokens).mean
    model.train()
    try:
        got = attention_locality(model, tokens).mean
        assert model.training
    finally:
        model.eval()
    np.testing.assert_array_equal(got, expected)
