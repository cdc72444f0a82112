from pathlib import Path

import numpy as np
import pytest
import torch
from robustness_helpers import boot, toy_corpus

from interplab.core.cache import Cache
from interplab.core.errors import SpecError
from interplab.core.runners import run_spec
from interplab.core.specs import parse_spec
from interplab.core.store import Store
from interplab.robustness.analyses.attention_locality import AttentionLocality
from interplab.robustness.analyses.logit_lens import LogitLens
from interplab.robustness.stages import logit_lens, neuron_census, residual_cka
from interplab.robustness.tokens import load_tokens

pytestmark = pytest.mark.usefixtures("one_thread")

TOKENS = "token_budget = 400\nseq_len = 40\nbatch_size = 3\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for i, doc in enumerate(toy_corpus(6)):
        (folder / f"doc{i}.txt").write_text(doc[: 30 + 25 * i])
    return folder


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_gpt2_dir, tiny_neox_dir, corpus):
    """Every stage analysis run once through the core runner into one store."""
    root = tmp_path_factory.mktemp("runs")
    gpt2, neox = str(tiny_gpt2_dir), str(tiny_neox_dir)
    spec = f"""
name = "stages"
[[runs]]
analysis = "robustness.attention-locality"
[runs.config]
models = ["{gpt2}", "{neox}"]
corpus = "{corpus}"
{TOKENS}
[[runs]]
analysis = "robustness.logit-lens"
[runs.config]
model = "{gpt2}"
corpus = "{corpus}"
mode = "cached_final_scale"
add_bias = false
{TOKENS}
[[runs]]
analysis = "robustness.neurons"
[runs.config]
model = "{neox}"
kurtosis_threshold = 3.0
[[runs]]
analysis = "robustness.cka"
[runs.config]
model = "{gpt2}"
corpus = "{corpus}"
{TOKENS}
[[runs]]
analysis = "robustness.sharpening"
[runs.config]
model = "{neox}"
corpus = "{corpus}"
method = "first_order"
top_neurons = 3
{TOKENS}
"""
    url = f"sqlite:///{root}/s.db"
    summary = run_spec(parse_spec(spec), store_url=url, cache_dir=root / "cache",
                       show_progress=False)  # fmt: skip
    assert [o.status for o in summary.outcomes] == ["completed"] * 5, [
        o.error for o in summary.outcomes
    ]
    return Store(url), Cache(root / "cache")


def _tokens(model, corpus):
    docs = [p.read_text() for p in sorted(corpus.glob("*.txt"))]
    return load_tokens(docs, model, token_budget=400, seq_len=40, batch_size=3)


def _pngs(cache, record, n):
    pngs = [a for a in record.artifacts.values() if a.media_type == "image/png"]
    assert len(pngs) == n
    for artifact in pngs:
        assert cache.read_blob(artifact.sha256).startswith(b"\x89PNG")


def test_attention_locality_records_per_model_and_layer(store, tiny_gpt2_dir, tiny_neox_dir):
    records, cache = store[0].query(analysis="robustness.attention-locality"), store[1]
    layers = [r for r in records if "layer" in r.params]
    assert len(layers) == 8
    assert {r.params["model"] for r in layers} == {str(tiny_gpt2_dir), str(tiny_neox_dir)}
    for r in layers:
        m = r.metrics["robustness.attention_prev_k"]
        assert m.unit == "fraction" and 0 < m.value < 1
        assert r.params["relative_depth"] == pytest.approx(r.params["layer"] / 3)
        assert r.params["k"] == 5 and r.params["include_bos"] is False
    summary = next(r for r in records if r.id.endswith("summary"))
    assert summary.params["model"] is None  # two models: not the config's unused default
    _pngs(cache, summary, 5)  # locality + two heatmaps per model
    csv = cache.read_blob(summary.artifacts["heads"].sha256).decode().splitlines()
    assert csv[0] == "model,layer,head,previous_token,subjoiner" and len(csv) == 1 + 2 * 16
    figures = AttentionLocality.figures(records)  # the report's cross-run figure
    assert len(figures) == 1 and figures[0][1].startswith(b"\x89PNG")


def test_logit_lens_records_match_the_function(store, tiny_gpt2_dir, corpus):
    records, cache = store[0].query(analysis="robustness.logit-lens"), store[1]
    entries = sorted((r for r in records if "entry" in r.params), key=lambda r: r.params["entry"])
    assert [r.params["label"] for r in entries] == ["embed", "L0", "L1", "L2", "L3"]
    assert all(r.params["mode"] == "cached_final_scale" and r.params["add_bias"] is False
               for r in entries)  # fmt: skip
    model = boot(tiny_gpt2_dir)
    with torch.no_grad():
        direct = logit_lens(model, _tokens(model, corpus), mode="cached_final_scale",
                            add_bias=False)  # fmt: skip
    got = [r.metrics["robustness.lens_entropy"].value for r in entries]
    np.testing.assert_allclose(got, direct.entropy_bits, rtol=1e-6)
    kl = entries[1].metrics["robustness.lens_kl_to_final"]
    assert kl.unit == "nats" and kl.value == pytest.approx(direct.kl_nats[1], rel=1e-6)
    assert entries[0].params["layer"] is None and entries[2].params["layer"] == 1
    _pngs(cache, next(r for r in records if r.id.endswith("summary")), 1)
    (title, data), *rest = LogitLens.figures(records)
    assert not rest and "cached_final_scale" in title and data.startswith(b"\x89PNG")


def test_neuron_records_match_the_census(store, tiny_neox_dir):
    records, cache = store[0].query(analysis="robustness.neurons"), store[1]
    layers = sorted((r for r in records if "layer" in r.params), key=lambda r: r.params["layer"])
    census = neuron_census(boot(tiny_neox_dir), kurtosis_threshold=3.0)
    counts = [r.metrics["robustness.prediction_neurons"].value for r in layers]
    np.testing.assert_array_equal(counts, census.prediction_counts)
    supp = [r.metrics["robustness.suppression_neurons"].value for r in layers]
    np.testing.assert_array_equal(supp, census.suppression_counts)
    assert layers[0].metrics["robustness.prediction_neurons"].unit == "count"
    assert sum(counts) > 0
    summary = next(r for r in records if r.id.endswith("summary"))
    _pngs(cache, summary, 1)
    rows = cache.read_blob(summary.artifacts["neurons"].sha256).decode().splitlines()
    assert len(rows) == 1 + census.is_prediction.sum() + census.is_suppression.sum()


def test_cka_records_match_the_matrix(store, tiny_gpt2_dir, corpus):
    records, cache = store[0].query(analysis="robustness.cka"), store[1]
    entries = sorted((r for r in records if "entry" in r.params), key=lambda r: r.params["entry"])
    model = boot(tiny_gpt2_dir)
    with torch.no_grad():
        matrix = residual_cka(model, _tokens(model, corpus)).matrix
    got = [r.metrics["robustness.cka_next"].value for r in entries[:-1]]
    np.testing.assert_allclose(got, np.diag(matrix, 1), rtol=1e-9)
    assert "robustness.cka_next" not in entries[-1].metrics  # no next entry after the last
    assert entries[-1].metrics["robustness.cka_last"].value == pytest.approx(1.0)
    _pngs(cache, next(r for r in records if r.id.endswith("summary")), 1)


def test_sharpening_records(store):
    records, cache = store[0].query(analysis="robustness.sharpening"), store[1]
    summary = next(r for r in records if r.id.endswith("summary"))
    change = summary.metrics["robustness.entropy_change"]
    assert change.unit == "bits"
    after, before = (summary.metrics[f"robustness.entropy_{k}"].value for k in ("after", "before"))
    assert change.value == pytest.approx(after - before, abs=1e-5)
    assert summary.params["layer"] == 3 and summary.params["method"] == "first_order"
    _pngs(cache, summary, 1)
    neurons = sorted((r for r in records if "neuron" in r.params), key=lambda r: r.params["rank"])
    effects = [r.metrics["robustness.neuron_entropy_effect"].value for r in neurons]
    assert len(neurons) == 3 and effects == sorted(effects, reverse=True)


def _spec(analysis, config):
    return parse_spec(f'name = "bad"\n[[runs]]\nanalysis = "{analysis}"\n[runs.config]\n{config}')


def _run(spec, tmp_path):
    return run_spec(spec, store_url=f"sqlite:///{tmp_path}/s.db", cache_dir=tmp_path / "cache",
                    show_progress=False)  # fmt: skip


def test_bad_configs_fail_with_the_field_named(tmp_path, tiny_gpt2_dir, corpus):
    with pytest.raises(SpecError, match=r"config\.mode.*'recompute' or 'cached_final_scale'"):
        _run(_spec("robustness.logit-lens", 'mode = "tuned"'), tmp_path)
    with pytest.raises(SpecError, match=r"config\.kurtosis_threshold.*greater than 0"):
        _run(_spec("robustness.neurons", "kurtosis_threshold = 0"), tmp_path)
    both = f'model = "{tiny_gpt2_dir}"\nmodels = ["{corpus}"]'
    with pytest.raises(SpecError, match=r"either `model`"):
        _run(_spec("robustness.attention-locality", both), tmp_path)
    missing = tmp_path / "missing"
    outcome = _run(_spec("robustness.neurons", f'model = "{missing}"'), tmp_path).outcomes[0]
    assert outcome.status == "failed" and str(missing) in (outcome.error or "")
    too_long = f'model = "{tiny_gpt2_dir}"\ncorpus = "{corpus}"\nseq_len = 100\ntoken_budget = 300'
    outcome = _run(_spec("robustness.cka", too_long), tmp_path).outcomes[0]  # n_ctx is 64
    assert outcome.status == "failed"
    assert "seq_len=100 exceeds the model's context n_ctx=64" in (outcome.error or "")
