"""compose.label-quality-of-next-tokens against independent computations.

A tiny GPT-2 is trained here on toy code files (no downloads); documents are snippets of those
files. The scores are checked against seglabels on the dense probabilities and against numpy
formulas written out here; the probabilities against the Hugging Face forward (intact and with a
block removed by hand); the corruptions against the clean documents.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compose_next_tokens_helpers import train_tiny_gpt2, write_corpus
from pydantic import ValidationError

from interplab.compose._next_tokens.documents import (
    KINDS,
    CorruptionRates,
    corrupt_corpus,
    load_sources,
    make_snippets,
)
from interplab.compose._next_tokens.scoring import (
    IGNORE,
    NextTokenProbs,
    next_token_labels,
    score_documents,
)
from interplab.compose.next_tokens import (
    METHODS,
    LabelQualityOfNextTokens,
    LabelQualityOfNextTokensConfig,
)
from interplab.core.errors import ConfigError

N_DOCS = 20
SEQ_LEN = 48
TINY = {"n_documents": N_DOCS, "token_budget": N_DOCS * SEQ_LEN, "corrupt_fraction": 0.4,
        "batch_size": 8}  # fmt: skip


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    return train_tiny_gpt2(tmp_path_factory.mktemp("nt-gpt2"), n_layers=2, steps=120)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("nt-corpus"))


@pytest.fixture(scope="module")
def bridge(model_dir: Path) -> Any:
    from interplab.robustness.models import load_model

    return load_model(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def sources(corpus_dir: Path) -> list[Any]:
    return load_sources(str(corpus_dir))


def _corpus(bridge: Any, sources: list[Any], seed: int = 0, **rates: Any) -> Any:
    snippets = make_snippets(
        sources, bridge.tokenizer, n_documents=N_DOCS, max_tokens=SEQ_LEN - 1, seed=seed
    )
    return corrupt_corpus(
        snippets, bridge.tokenizer, rates=CorruptionRates(**{"fraction": 0.4, **rates}),
        seed=seed, seq_len=SEQ_LEN,
    )  # fmt: skip


# --- scores: seglabels' functions and numpy formulas on the same probabilities ----------------


def _softmin(s: np.ndarray, t: float = 0.1) -> float:
    w = np.exp((1.0 - s) / t)
    return float((w * s).sum() / w.sum())


def _confident_learning(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab's num_pixel_issues written out: labels (N, T) (−1 ignored), probs (N, V, T)."""
    valid = labels >= 0
    y = np.where(valid, labels, 0)
    s = np.take_along_axis(probs, y[:, None, :], axis=1)[:, 0, :]
    predicted, top = probs.argmax(axis=1), probs.max(axis=1)
    thresholds = np.zeros(probs.shape[1])
    for k in np.unique(y[valid]):
        thresholds[k] = s[valid & (y == k)].astype(np.float64).mean()
    thresholds = np.clip(thresholds, 2e-6, None)
    disagree = valid & (predicted != y)
    n_issues = int((disagree & (top >= thresholds[predicted] - 1e-6)).sum())
    index = np.flatnonzero(valid)
    lowest = index[np.lexsort((index, s.flat[index]))[:n_issues]]
    flagged = np.zeros_like(valid)
    flagged.flat[lowest] = True
    flagged &= disagree
    return 1.0 - flagged.sum(axis=1) / valid.sum(axis=1)


class _Recording(NextTokenProbs):
    """Records the size of every slice seglabels reads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slices: list[int] = []

    def __getitem__(self, index: Any) -> np.ndarray:
        out = super().__getitem__(index)
        self.slices.append(len(out))
        return out


def test_scores_equal_seglabels_and_numpy_formulas(bridge: Any, sources: list[Any]) -> None:
    from interplab.seglabels.scores import image_scores

    corpus = _corpus(bridge, sources)
    ids, mask = corpus.arrays(bridge.tokenizer.pad_token_id)
    labels = next_token_labels(ids, mask)
    assert labels.shape == (N_DOCS, 1, ids.shape[1] - 1)
    assert np.array_equal(labels[:, 0][mask[:, 1:]], ids[:, 1:][mask[:, 1:]])
    assert (labels[:, 0][~mask[:, 1:]] == IGNORE).all()

    probs = _Recording(bridge, ids, vocab_size=int(bridge.cfg.d_vocab))
    scores = score_documents(probs, labels, METHODS, batch_size=7)
    # streamed: never more than one batch of documents at a time, whole passes only
    assert max(probs.slices) <= 7 and probs.rows_computed % N_DOCS == 0
    assert probs.rows_computed >= 2 * N_DOCS  # the scoring pass + Confident Learning's scan

    dense = probs[0:N_DOCS]  # (N, V, 1, T) float32: small here, so it can be compared
    for method in METHODS:
        expected = image_scores(labels, dense, method=method, ignore_index=IGNORE)
        np.testing.assert_allclose(scores[method], expected, rtol=1e-12, err_msg=method)

    p = dense[:, :, 0, :]
    y = labels[:, 0]
    for i in range(N_DOCS):
        valid = y[i] >= 0
        s = p[i][y[i][valid], np.flatnonzero(valid)].astype(np.float64)
        assert scores["mean"][i] == pytest.approx(s.mean(), rel=1e-12)
        assert scores["min"][i] == s.min()
        assert scores["softmin"][i] == pytest.approx(_softmin(s), rel=1e-9)
        assert scores["percentile"][i] == pytest.approx(np.percentile(s, 1), rel=1e-12)
        assert scores["below_threshold"][i] == pytest.approx(1 - (s < 0.5).mean(), rel=1e-12)
        per_class = [_softmin(s[y[i][valid] == k]) for k in np.unique(y[i][valid])]
        assert scores["class_balanced_softmin"][i] == pytest.approx(min(per_class), rel=1e-9)
        assert scores["nll"][i] == pytest.approx(-np.log(s).mean(), rel=1e-6)
    np.testing.assert_array_equal(scores["num_pixel_issues"], _confident_learning(y, p))
    assert scores["num_pixel_issues"].min() < 1.0  # Confident Learning flagged something


def test_probabilities_are_the_lm_forward_intact_and_with_a_block_removed(
    bridge: Any, model_dir: Path, sources: list[Any]
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from interplab.robustness.interventions import Delete, intervene

    corpus = _corpus(bridge, sources)
    ids, _ = corpus.arrays(bridge.tokenizer.pad_token_id)
    probs = NextTokenProbs(bridge, ids, vocab_size=int(bridge.cfg.d_vocab))
    hf = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    short = copy.deepcopy(hf)
    short.transformer.h = torch.nn.ModuleList([hf.transformer.h[0]])  # block 1 deleted
    with torch.no_grad():
        for reference, edit in ((hf, None), (short, Delete(1))):
            logits = reference(torch.from_numpy(ids[3:9]), use_cache=False).logits[:, :-1]
            expected = torch.softmax(logits.float(), -1).transpose(1, 2)[:, :, None].numpy()
            if edit is None:
                got = probs[3:9]
            else:
                with intervene(bridge, edit):
                    got = probs[3:9]
            np.testing.assert_allclose(got, expected, atol=2e-6)
    np.testing.assert_array_equal(probs[3:9], probs[3:9])  # the same numbers on every read
    with pytest.raises(TypeError, match="contiguous slices"):
        probs[::2]


# --- corruptions ------------------------------------------------------------------------------


def test_corruptions_hit_exactly_the_recorded_documents_and_follow_the_seed(
    bridge: Any, sources: list[Any]
) -> None:
    corpus = _corpus(bridge, sources, seed=3)
    changed = {
        i for i, (a, b) in enumerate(zip(corpus.ids, corpus.clean_ids, strict=True)) if a != b
    }
    recorded = {c.document for c in corpus.corruptions}
    assert changed == recorded and len(recorded) == round(0.4 * N_DOCS)
    assert np.flatnonzero(corpus.is_corrupted).tolist() == sorted(recorded)
    counts = {k: sum(c.kind == k for c in corpus.corruptions) for k in KINDS}
    assert counts == dict.fromkeys(KINDS, 2)  # kinds assigned in turn
    snippets = make_snippets(
        sources, bridge.tokenizer, n_documents=N_DOCS, max_tokens=SEQ_LEN - 1, seed=3
    )
    for c in corpus.corruptions:
        assert corpus.doc_ids[c.document] == c.doc_id
        clean, given = snippets[c.document].text, corpus.texts[c.document]
        if c.kind == "random_tokens":
            pairs = zip(corpus.ids[c.document], corpus.clean_ids[c.document], strict=True)
            diff = [i for i, (a, b) in enumerate(pairs) if a != b]
            assert diff == c.detail["positions"]
        elif c.kind == "typos":
            at = c.detail["swapped_at"]
            diff = [i for i, (a, b) in enumerate(zip(given, clean, strict=True)) if a != b]
            assert diff == sorted(at + [i + 1 for i in at])
            for i in at:
                assert given[i : i + 2] == clean[i : i + 2][::-1]
        elif c.kind == "shuffle_lines":
            lo, hi = c.detail["lines"]
            before, after = clean.split("\n"), given.split("\n")
            assert after[:lo] == before[:lo] and after[hi:] == before[hi:]
            assert after[lo:hi] == [before[lo + k] for k in c.detail["order"]] != before[lo:hi]
        else:
            lo, hi = c.detail["lines"]
            a, b = c.detail["donor_lines"]
            donor = next(s for s in snippets if s.doc_id == c.detail["donor"])
            assert donor.source != snippets[c.document].source
            before, after = clean.split("\n"), given.split("\n")
            assert after == before[:lo] + donor.text.split("\n")[a:b] + before[hi:]

    again = _corpus(bridge, sources, seed=3)
    assert again.ids == corpus.ids and again.corruptions == corpus.corruptions
    other = _corpus(bridge, sources, seed=4)
    assert other.ids != corpus.ids
    stronger = _corpus(bridge, sources, seed=3, token_rate=0.3)
    token_docs = [c for c in stronger.corruptions if c.kind == "random_tokens"]
    for c in token_docs:
        n_tokens = len(stronger.clean_ids[c.document]) - 1  # BOS is never replaced
        assert len(c.detail["positions"]) == round(0.3 * n_tokens) > 1


# --- the analysis: contract, CLI, errors ------------------------------------------------------


def test_keeps_the_plugin_contract_and_finds_corrupted_documents(
    tmp_path: Path, model_dir: Path, corpus_dir: Path
) -> None:
    from interplab.core.testing import check_analysis

    config = {"model": str(model_dir), "corpus": str(corpus_dir), **TINY}
    records = check_analysis(LabelQualityOfNextTokens, config, workdir=tmp_path)
    interventions = ["intact", "delete-L0", "delete-L1"]
    assert [r.id.rsplit("-", 1)[-1] for r in records][-1] == "summary"
    rows = {(r.params["intervention"], r.params["method"]): r for r in records[:-1]}
    assert set(rows) == {(i, m) for i in interventions for m in METHODS}
    for (_, method), r in rows.items():
        intact_auprc = rows["intact", method].metrics["compose.auprc"].value
        drop = intact_auprc - r.metrics["compose.auprc"].value
        assert r.metrics["compose.auprc_drop"].value == pytest.approx(drop)
        assert r.metrics["compose.base_rate"].value == pytest.approx(0.4)
        assert {f"compose.auprc_{k}" for k in KINDS} <= r.metrics.keys()
    # the trained model finds replaced tokens far better than chance with the paper's score
    intact = rows["intact", "softmin"].metrics
    assert intact["compose.auroc_random_tokens"].value > 0.9
    assert intact["compose.nll_corrupted"].value > intact["compose.nll_clean"].value
    summary = records[-1]
    assert summary.metrics["compose.n_corrupted"].value == 8
    assert {"figure", "corruptions", "scores"} <= summary.artifacts.keys()
    text = LabelQualityOfNextTokens.console_summary(records, _NoCache())
    assert text is not None and "delete-L1" in text and "class_balanced_softmin" in text


class _NoCache:
    def read_blob(self, sha256: str) -> None:
        return None


def test_runs_from_a_spec_with_the_cli(
    tmp_path: Path, model_dir: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from interplab.core.cache import Cache
    from interplab.core.cli import app
    from interplab.core.store import Store

    home = tmp_path / "home"
    monkeypatch.setenv("INTERPLAB_HOME", str(home))
    for name in ("INTERPLAB_STORE", "INTERPLAB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'name = "next-tokens-tiny"\nseed = 1\n[[runs]]\n'
        'analysis = "compose.label-quality-of-next-tokens"\nname = "tiny"\n[runs.config]\n'
        f'model = "{model_dir}"\ncorpus = "{corpus_dir}"\nlayers = [1]\n'
        'methods = ["softmin", "num_pixel_issues", "mean"]\n'
        + "".join(f"{k} = {v}\n" for k, v in TINY.items())
    )
    result = CliRunner().invoke(app, ["run", str(spec), "--no-progress", "--no-report"])
    assert result.exit_code == 0, result.output
    assert "AUPRC of ranking corrupted documents first" in result.output
    assert "delete-L1" in result.output and "num_pixel_issues" in result.output
    records = Store(f"sqlite:///{home}/store.db").query(experiment="next-tokens-tiny")
    assert len(records) == 2 * 3 + 1
    summary = next(r for r in records if r.id.endswith("-summary"))
    blob = Cache(home / "cache").read_blob(summary.artifacts["corruptions"].sha256)
    assert blob is not None
    corruptions = json.loads(blob)
    assert len(corruptions) == 8 and {c["kind"] for c in corruptions} == set(KINDS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"methods": ["softmin", "median"]}, "includes \\['median'\\], not a seglabels"),
        ({"methods": ["mean", "mean"]}, "lists a method twice"),
        ({"corruptions": ["typos", "typos"]}, "lists a kind twice"),
        ({"corruptions": ["smudge"]}, "corruptions"),
        ({"layers": [-1]}, "distinct layer indices >= 0"),
        ({"token_budget": 100, "n_documents": 20}, "raise token_budget to at least 320"),
        ({"corrupt_fraction": 1.0}, "corrupt_fraction"),
        ({"batch_size": 0}, "batch_size"),
        ({"n_documents": 20, "tokens": 5}, "tokens"),
    ],
)
def test_bad_config_is_refused_with_a_message(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LabelQualityOfNextTokensConfig.model_validate(change)


def _run(config: dict[str, Any], tmp_path: Path) -> list[Any]:
    import torch

    from interplab.core.analysis import RunContext
    from interplab.core.cache import Cache
    from interplab.core.environment import capture_environment

    parsed = LabelQualityOfNextTokensConfig.model_validate(config)
    ctx = RunContext(
        run_id="bad", analysis=LabelQualityOfNextTokens.name, package="compose",
        params=parsed.model_dump(mode="json"), seed=0, device=torch.device("cpu"),
        cache=Cache(tmp_path / "cache"), env=capture_environment(device="cpu", seed=0),
        metric_specs=LabelQualityOfNextTokens.metrics,
    )  # fmt: skip
    return list(LabelQualityOfNextTokens().run(parsed, ctx))


def test_bad_inputs_at_run_time_raise_config_errors(
    tmp_path: Path, model_dir: Path, corpus_dir: Path
) -> None:
    base = {"model": str(model_dir), "corpus": str(corpus_dir), **TINY}
    with pytest.raises(ConfigError, match=r"layers=\[5\] includes \[5\], out of range .* 0\.\.1"):
        _run({**base, "layers": [5]}, tmp_path)
    with pytest.raises(ConfigError, match="neither 'stdlib-heldout' nor a folder"):
        _run({**base, "corpus": str(tmp_path / "missing")}, tmp_path)
    with pytest.raises(ConfigError, match=r"n_documents=400, but corpus=.* gives only"):
        _run({**base, "n_documents": 400, "token_budget": 400 * SEQ_LEN}, tmp_path)
    with pytest.raises(ConfigError, match="at least one per corruption kind"):
        _run({**base, "corrupt_fraction": 0.1}, tmp_path)
