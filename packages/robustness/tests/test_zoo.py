"""The zoo: stdlib corpus, byte-level BPE, a short training run kept in cache, the analysis."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from interplab.core.cache import Cache
from interplab.core.errors import ConfigError, SpecError
from interplab.core.hashing import digest_file
from interplab.robustness import ZOO, ZooSpec, load_model
from interplab.robustness.zoo import corpus, documents, read_zoo_card, token_stream, train
from interplab.robustness.zoo.corpus import Document, Split
from interplab.robustness.zoo.tokenizer import END_OF_TEXT, train_tokenizer, zoo_tokenizer

TINY = ZooSpec(
    family="gpt2", n_layers=1, d_model=32, n_heads=2, d_mlp=64, n_ctx=32, vocab_size=512,
    steps=200, batch_size=8, lr=1e-2, warmup_steps=5, heldout_windows=16,
)  # fmt: skip
TINY_OVERRIDES = {
    "d_model": 32, "n_heads": 2, "d_mlp": 64, "n_ctx": 32, "vocab_size": 512, "steps": 40,
    "batch_size": 4, "lr": 1e-2, "warmup_steps": 5, "heldout_windows": 16,
}  # fmt: skip


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("INTERPLAB_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def zoo_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cache]:
    """One cache for the module, and a small corpus: 60 train and 8 held-out documents.

    Tokenizing the whole standard library takes about a minute on a busy 2-core machine; what
    these tests check does not depend on the corpus's size.
    """
    from interplab.robustness.zoo import tokenizer

    def small(split: Split, max_docs: int | None = None) -> list[Document]:
        return documents(split, max_docs={"train": 60, "heldout": 8}[split])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokenizer, "documents", small)
        yield Cache(tmp_path_factory.mktemp("zoo-cache"))


# --- corpus ---------------------------------------------------------------------------------


def test_corpus_is_the_stdlib_read_deterministically_and_split_disjointly() -> None:
    train_docs, heldout_docs = documents("train"), documents("heldout")
    digest = corpus.corpus_digest()
    ids = [d.doc_id for d in train_docs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert not set(ids) & {d.doc_id for d in heldout_docs}
    assert 0.05 < len(heldout_docs) / (len(train_docs) + len(heldout_docs)) < 0.2
    assert "json/decoder.py" in ids + [d.doc_id for d in heldout_docs]
    for doc in train_docs + heldout_docs:
        parts = doc.doc_id.split("/")
        assert not {"test", "tests", "site-packages", "idlelib", "__pycache__"} & set(parts[:-1])
        assert not parts[-1].startswith(("test_", "_sysconfigdata")) and doc.doc_id.endswith(".py")
    root = corpus.stdlib_root()
    for doc in heldout_docs[:5]:
        assert doc.text == (root / doc.doc_id).read_text(encoding="utf-8")

    corpus._all_documents.cache_clear()  # read the files again
    corpus._corpus_digest.cache_clear()
    assert documents("train") == train_docs and corpus.corpus_digest() == digest


def test_max_docs_is_a_deterministic_sorted_subset() -> None:
    sample = documents("heldout", max_docs=5)
    assert len(sample) == 5 and sample == documents("heldout", max_docs=5)
    assert [d.doc_id for d in sample] == sorted(d.doc_id for d in sample)
    assert set(sample) <= set(documents("heldout"))
    with pytest.raises(ConfigError, match="split='validation'"):
        documents("validation")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_docs=0"):
        documents("train", max_docs=0)


# --- tokenizer ------------------------------------------------------------------------------


def test_byte_level_bpe_round_trips_unseen_text_and_uses_id_0_for_bos() -> None:
    tokenizer = train_tokenizer((d.text for d in documents("train", max_docs=30)), vocab_size=400)
    assert len(tokenizer) == 400
    assert tokenizer.convert_ids_to_tokens(0) == END_OF_TEXT
    assert tokenizer.bos_token_id == tokenizer.eos_token_id == tokenizer.pad_token_id == 0
    texts = [d.text for d in documents("heldout", max_docs=3)]
    texts.append("π ≈ 3.14159 — naïve café 🐍\r\n\ttabs  and   spaces\n")
    for text in texts:
        ids = tokenizer.encode(text)
        assert 0 not in ids  # no special token is added by the tokenizer itself
        assert tokenizer.decode(ids) == text
    code = texts[0]
    assert len(code.encode()) / len(tokenizer.encode(code)) > 1.5  # merges were learned
    with pytest.raises(ConfigError, match="vocab_size=100"):
        train_tokenizer(["x"], vocab_size=100)


def test_token_streams_are_the_documents_joined_by_end_of_text(zoo_cache: Cache) -> None:
    tokenizer = zoo_tokenizer(512, cache=zoo_cache)
    stream = token_stream("heldout", 512, cache=zoo_cache)
    expected: list[int] = []
    for doc in documents("heldout", max_docs=8):
        expected += [*tokenizer(doc.text, add_special_tokens=False)["input_ids"], 0]
    assert stream.dtype == torch.long and stream.tolist() == expected


# --- training and the cache -----------------------------------------------------------------


def test_a_short_training_run_is_cached_scored_honestly_and_reused(
    zoo_cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = train.train_zoo_model(TINY, cache=zoo_cache, device="cpu")
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "zoo.json"} <= names
    card = read_zoo_card(folder)
    assert card["spec"] == TINY.as_dict() and card["corpus"] == corpus.corpus_digest()
    assert [p["step"] for p in card["curve"]][-1] == TINY.steps
    assert card["curve"][-1]["loss"] < card["curve"][0]["loss"]
    heldout = card["heldout"]
    assert heldout["loss"] < math.log(TINY.vocab_size) - 1.0  # far below uniform

    # the card's numbers, recomputed independently through the bridge
    bridge = load_model(folder, device="cpu")
    body = TINY.n_ctx - 1
    stream = token_stream("heldout", TINY.vocab_size, cache=zoo_cache)
    windows = stream[: TINY.heldout_windows * body].reshape(-1, body)
    windows = torch.cat([torch.zeros(len(windows), 1, dtype=torch.long), windows], dim=1)
    with torch.no_grad():
        logits = bridge(windows)
        loss = bridge(windows, return_type="loss")
    targets = windows[:, 1:]
    top1 = (logits[:, :-1].argmax(-1) == targets).float().mean().item()
    assert heldout["n_tokens"] == targets.numel()
    assert heldout["loss"] == pytest.approx(loss.item(), abs=1e-4)
    assert heldout["top1"] == pytest.approx(top1, abs=1e-6)
    train_stream = token_stream("train", TINY.vocab_size, cache=zoo_cache).tolist()
    most_common = Counter(train_stream).most_common(1)[0][0]
    baseline = (targets == most_common).float().mean().item()
    assert heldout["unigram_top1"] == pytest.approx(baseline, abs=1e-6)

    # a second call, and zoo:<name>, reuse the cached folder: nothing is trained again
    def must_not_train(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached model was trained again")

    monkeypatch.setattr(train, "_train_into", must_not_train)
    assert train.train_zoo_model(TINY, cache=zoo_cache, device="cpu") == folder
    monkeypatch.setitem(ZOO, "test-tiny", TINY)
    zoo_bridge = load_model("zoo:test-tiny", device="cpu", cache=zoo_cache)
    assert zoo_bridge.cfg.model_name == "zoo:test-tiny" and not zoo_bridge.training
    tokens = zoo_bridge.to_tokens("import os\nprint(os.sep)\n", prepend_bos=True)
    assert tokens[0, 0].item() == 0 and tokens.shape[1] > 3
    assert zoo_bridge.to_string(tokens[0, 1:]) == "import os\nprint(os.sep)\n"
    with torch.no_grad():
        torch.testing.assert_close(zoo_bridge(windows[:2]), logits[:2])


@pytest.mark.slow
def test_the_quickstart_zoo_model_is_a_real_next_token_predictor(tmp_path: Path) -> None:
    """``gpt2-2l`` with its real recipe on the whole corpus (a few minutes on 2 busy cores)."""
    card = read_zoo_card(train.train_zoo_model(ZOO["gpt2-2l"], cache=Cache(tmp_path), device="cpu"))
    heldout = card["heldout"]
    assert heldout["n_tokens"] == ZOO["gpt2-2l"].heldout_windows * (ZOO["gpt2-2l"].n_ctx - 1)
    assert heldout["top1"] > 3 * heldout["unigram_top1"]
    assert heldout["loss"] < math.log(ZOO["gpt2-2l"].vocab_size) - 3.0


def test_the_cache_key_holds_spec_corpus_and_versions() -> None:
    cpu = torch.device("cpu")
    key = train.zoo_cache_key(TINY, cpu)
    assert key["corpus"] == corpus.corpus_digest() and key["torch"] == torch.__version__
    assert key["spec"] == TINY.as_dict() and "transformers" in key and "tokenizers" in key
    assert train.zoo_cache_key(TINY.replace(seed=1), cpu) != key


def test_zoo_specs_are_validated() -> None:
    assert {"gpt2-2l", "gpt2-4l", "gpt2-8l", "gpt2-12l", "neox-2l", "neox-12l"} <= set(ZOO)
    assert all(spec.n_layers == int(name.split("-")[1][:-1]) for name, spec in ZOO.items())
    with pytest.raises(ConfigError, match="not divisible"):
        TINY.replace(n_heads=3)
    with pytest.raises(ConfigError, match="no field"):
        TINY.replace(depth=3)
    with pytest.raises(ConfigError, match="family='llama'"):
        TINY.replace(family="llama")


# --- the analysis ---------------------------------------------------------------------------


def test_train_zoo_analysis_runs_through_the_core_runner(zoo_cache: Cache, tmp_path: Path) -> None:
    from interplab.core.runners import run_spec
    from interplab.core.specs import parse_spec
    from interplab.core.store import Store
    from interplab.robustness.analyses.train_zoo import TrainZoo

    overrides = ", ".join(f"{k} = {v}" for k, v in TINY_OVERRIDES.items())
    text = f"""
name = "zoo-test"
[[runs]]
analysis = "robustness.train-zoo"
config = {{models = ["gpt2-2l", "neox-2l"], spec_overrides = {{{overrides}}}}}
"""
    url = f"sqlite:///{tmp_path}/store.db"
    summary = run_spec(parse_spec(text), store_url=url, cache_dir=zoo_cache.root,
                       show_progress=False)  # fmt: skip
    assert [o.status for o in summary.outcomes] == ["completed"], summary.outcomes
    records = sorted(Store(url).query(analysis="robustness.train-zoo"), key=lambda r: r.id)
    assert [r.params["model"] for r in records] == ["gpt2-2l", "neox-2l"]
    for record in records:
        spec = ZOO[record.params["model"]].replace(**TINY_OVERRIDES)
        folder = train.train_zoo_model(spec, cache=zoo_cache, device="cpu")  # a cache hit
        card = read_zoo_card(folder)
        metrics = {k: m.value for k, m in record.metrics.items()}
        assert metrics["robustness.heldout_loss"] == card["heldout"]["loss"]
        assert metrics["robustness.heldout_loss"] < math.log(spec.vocab_size)
        assert metrics["robustness.n_params"] == card["n_params"] > 0
        assert record.metrics["robustness.heldout_loss"].unit == "nats"
        assert record.inputs["model"] == digest_file(folder / "model.safetensors")
        png = zoo_cache.read_blob(record.artifacts["training_curves"].sha256)
        assert png is not None and png.startswith(b"\x89PNG")
    (title, png), *_ = TrainZoo.figures(records)
    assert "top-1" in title and png.startswith(b"\x89PNG")

    folders = zoo_cache.info().dirs
    run_spec(parse_spec(text), store_url=url, cache_dir=zoo_cache.root, force=True,
             show_progress=False)  # fmt: skip
    again = sorted(Store(url).query(analysis="robustness.train-zoo"), key=lambda r: r.id)
    assert [r.metrics for r in again] == [r.metrics for r in records]
    assert zoo_cache.info().dirs == folders  # nothing was trained again


def test_train_zoo_config_names_unknown_models_and_fields() -> None:
    from interplab.core.specs import parse_spec, plan_tasks

    for config, expected in [
        ('{models = ["gpt2-3l"]}', "not a zoo model"),
        ("{spec_overrides = {depth = 3}}", "no field"),
    ]:
        spec = parse_spec(f'name = "x"\n[[runs]]\nanalysis = "robustness.train-zoo"\n'
                          f"config = {config}\n")  # fmt: skip
        with pytest.raises(SpecError, match=expected):
            plan_tasks(spec)
