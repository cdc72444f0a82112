from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from robustness_helpers import build_tokenizer, toy_corpus

from interplab.core.errors import ConfigError
from interplab.robustness.tokens import load_tokens

pytestmark = pytest.mark.filterwarnings("ignore:token_budget=.*:UserWarning")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@dataclass
class Doc:
    doc_id: str
    text: str


def encode(tokenizer, text: str) -> list[int]:
    return [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]


def test_rows_are_bos_then_the_documents_first_tokens_right_padded(tokenizer) -> None:
    docs = toy_corpus(7)
    tokens = load_tokens(
        docs, tokenizer, token_budget=10_000, seq_len=40, batch_size=3, windows=False
    )
    assert [len(b) for b in tokens] == [3, 3, 1]
    row = 0
    for batch in tokens:
        assert batch.ids.shape == batch.mask.shape
        for ids, mask, doc_id in zip(batch.ids, batch.mask, batch.doc_ids, strict=True):
            expected = encode(tokenizer, docs[row])[:40]
            n = int(mask.sum())
            assert doc_id == str(row)
            assert ids[:n].tolist() == expected and n == len(expected)
            assert mask[:n].all() and not mask[n:].any()  # real tokens first, then padding
            assert (ids[n:] == tokens.pad_id).all()
            row += 1
    assert row == 7


def test_budget_counts_real_tokens_and_cuts_the_last_document(tokenizer) -> None:
    docs = toy_corpus(50)
    tokens = load_tokens(docs, tokenizer, token_budget=333, seq_len=64, batch_size=4, windows=False)
    assert tokens.token_budget - 1 <= tokens.n_tokens <= 333
    lengths = [int(m) for b in tokens for m in b.mask.sum(1)]
    assert sum(lengths) == tokens.n_tokens
    full = [min(len(encode(tokenizer, d)), 64) for d in docs[: len(lengths)]]
    assert lengths[:-1] == full[:-1] and lengths[-1] <= full[-1]
    assert tokens.n_predictions == sum(n - 1 for n in lengths)


def test_same_inputs_give_the_same_tokens(tokenizer) -> None:
    docs = toy_corpus(20)
    one = load_tokens(docs, tokenizer, token_budget=500, seq_len=32, batch_size=4)
    two = load_tokens(docs, tokenizer, token_budget=500, seq_len=32, batch_size=4)
    assert len(one) == len(two)
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a.ids, b.ids) and torch.equal(a.mask, b.mask)
        assert a.doc_ids == b.doc_ids


def test_targets_positions_and_doc_ids(tokenizer) -> None:
    docs = [Doc("first", "def alpha(value):"), Doc("second", "class Beta:\n    pass")]
    batch = load_tokens(docs, tokenizer, token_budget=100, seq_len=16, batch_size=2).batches[0]
    assert batch.doc_ids == ("first", "second")
    assert torch.equal(batch.targets, batch.ids[:, 1:])
    assert torch.equal(batch.target_mask, batch.mask[:, 1:])
    assert batch.positions.shape == batch.ids.shape
    assert batch.positions[1].tolist() == list(range(batch.ids.shape[1]))
    short = int(batch.mask[1].sum())  # the shorter row predicts nothing beyond its last token
    assert not batch.target_mask[1, short - 1 :].any()


def test_a_bridge_works_as_the_tokenizer(tiny_gpt2_dir: Path, tokenizer) -> None:
    from robustness_helpers import boot

    bridge = boot(tiny_gpt2_dir)
    a = load_tokens(toy_corpus(3), bridge, token_budget=200, seq_len=16, batch_size=3)
    b = load_tokens(toy_corpus(3), tokenizer, token_budget=200, seq_len=16, batch_size=3)
    assert torch.equal(a.batches[0].ids, b.batches[0].ids)


def test_rows_stop_at_the_models_context(tiny_gpt2_dir: Path) -> None:
    from robustness_helpers import boot

    bridge = boot(tiny_gpt2_dir)  # n_ctx 64
    long_docs = [" ".join(toy_corpus(6))] * 2
    rows = load_tokens(long_docs, bridge, token_budget=1000, batch_size=2)
    assert rows.batches[0].ids.shape[1] == 64
    with pytest.raises(ConfigError, match=r"seq_len=100 exceeds the model's context n_ctx=64"):
        load_tokens(long_docs, bridge, token_budget=1000, seq_len=100)


def test_empty_budget_and_bad_arguments_are_clear_errors(tokenizer) -> None:
    docs = toy_corpus(3)
    with pytest.raises(ConfigError, match=r"token_budget=1 is too small"):
        load_tokens(docs, tokenizer, token_budget=1)
    with pytest.raises(ConfigError, match=r"token_budget=0 is too small"):
        load_tokens(docs, tokenizer, token_budget=0)
    with pytest.raises(ConfigError, match=r"no tokens: the 2 documents read"):
        load_tokens(["", ""], tokenizer, token_budget=100)
    with pytest.raises(ConfigError, match=r"no tokens: the 0 documents read"):
        load_tokens([], tokenizer, token_budget=100)
    with pytest.raises(ConfigError, match=r"no tokens: the 3 documents read"):
        load_tokens((text for text in ["", "", ""]), tokenizer, token_budget=100)
    with pytest.raises(ConfigError, match=r"seq_len=1 must be at least 2"):
        load_tokens(docs, tokenizer, token_budget=100, seq_len=1)
    with pytest.raises(ConfigError, match=r"batch_size=0 must be at least 1"):
        load_tokens(docs, tokenizer, token_budget=100, batch_size=0)


def test_a_tokenizer_without_bos_is_refused(tokenizer) -> None:
    no_bos = build_tokenizer()
    no_bos.bos_token = None
    with pytest.raises(ConfigError, match=r"has no BOS token"):
        load_tokens(toy_corpus(2), no_bos, token_budget=100)


def test_a_string_a_missing_tokenizer_and_an_empty_one_are_named(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    from interplab.robustness import load_model

    config = GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=32, vocab_size=300)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "bare")  # weights only, no tokenizer
    bare = load_model(tmp_path / "bare", device="cpu")
    docs = toy_corpus(2)
    with pytest.raises(ConfigError, match=r"turned 2 non-empty documents into nothing\. Was the "
                       r"model saved without its tokenizer\?"):  # fmt: skip
        load_tokens(docs, bare, token_budget=100)
    with pytest.raises(ConfigError, match=r"documents is one string .* pass a list of texts"):
        load_tokens(docs[0], bare, token_budget=100)
    with pytest.raises(ConfigError, match=r"tokenizer=None: pass the model"):
        load_tokens(docs, None, token_budget=100)


def test_long_documents_continue_in_windows_each_behind_bos(tokenizer) -> None:
    docs = [Doc("a", " ".join(toy_corpus(8))), Doc("b", " ".join(toy_corpus(5)))]
    tokens = load_tokens(docs, tokenizer, token_budget=100_000, seq_len=16, batch_size=3)
    rows = [
        (doc_id, start, ids[: int(mask.sum())].tolist())
        for batch in tokens
        for doc_id, start, ids, mask in zip(
            batch.doc_ids, batch.starts, batch.ids, batch.mask, strict=True
        )
    ]
    for doc in docs:
        text = encode(tokenizer, doc.text)[1:]
        mine = [(start, ids) for doc_id, start, ids in rows if doc_id == doc.doc_id]
        assert len(mine) == -(-len(text) // 15) > 2
        assert [start for start, _ in mine] == list(range(0, len(text), 15))
        assert all(ids[0] == tokenizer.bos_token_id for _, ids in mine)
        assert [t for _, ids in mine for t in ids[1:]] == text  # every token once, in order
    assert tokens.n_tokens == sum(len(ids) for _, _, ids in rows)


def test_a_budget_the_documents_cannot_fill_warns_and_keeps_what_they_hold(tokenizer) -> None:
    docs = toy_corpus(4)
    with pytest.warns(UserWarning, match=r"token_budget=100000, but the 4 documents hold only"):
        tokens = load_tokens(docs, tokenizer, token_budget=100_000, seq_len=16)
    assert tokens.n_tokens == sum(
        len(encode(tokenizer, d)) - 1 + -(-(len(encode(tokenizer, d)) - 1) // 15) for d in docs
    )  # every token of every document, plus one BOS per window
    with pytest.warns(UserWarning, match=r"each cut after its first row: windows=False"):
        load_tokens(docs, tokenizer, token_budget=100_000, seq_len=16, windows=False)


@pytest.mark.parametrize(
    "field, value", [("token_budget", 100.5), ("token_budget", "1000"), ("seq_len", 16.0),
                     ("batch_size", True)],
)  # fmt: skip
def test_numbers_that_are_not_whole_are_named(tokenizer, field: str, value: object) -> None:
    arguments = {"token_budget": 1000, "seq_len": 16, "batch_size": 2, field: value}
    with pytest.raises(ConfigError, match=rf"{field}={value!r} must be a whole number"):
        load_tokens(toy_corpus(3), tokenizer, **arguments)
