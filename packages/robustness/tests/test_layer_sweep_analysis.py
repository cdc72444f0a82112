"""``robustness.layer-sweep`` through the core runner, on tiny local models and a .txt corpus."""

from pathlib import Path

import pytest
from robustness_helpers import boot, toy_corpus

from interplab.core.cache import Cache
from interplab.core.errors import SpecError
from interplab.core.registry import get_analysis
from interplab.core.runners import run_spec
from interplab.core.specs import parse_spec, plan_tasks
from interplab.core.store import Store
from interplab.robustness.analyses._inputs import _documents
from interplab.robustness.analyses.layer_sweep import LayerSweep
from interplab.robustness.sweep import layer_sweep
from interplab.robustness.tokens import load_tokens

TOKENS = "token_budget = 300\nseq_len = 32\nbatch_size = 4\nn_bootstrap = 50\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for i, doc in enumerate(toy_corpus(40)[-8:]):
        (folder / f"doc{i}.txt").write_text(doc)
    return folder


def run(spec: str, tmp_path: Path) -> tuple[list, Cache]:
    url = f"sqlite:///{tmp_path}/store.db"
    summary = run_spec(
        parse_spec(spec), store_url=url, cache_dir=tmp_path / "cache", show_progress=False
    )
    assert [o.status for o in summary.outcomes] == ["completed"], summary.outcomes
    return Store(url).query(analysis="robustness.layer-sweep"), Cache(tmp_path / "cache")


def test_one_record_per_intervention_plus_a_summary_with_figures(
    tiny_gpt2_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    assert get_analysis("robustness.layer-sweep") is LayerSweep  # the entry point is installed
    records, cache = run(
        f"""
name = "sweep"
[[runs]]
analysis = "robustness.layer-sweep"
[runs.config]
model = "{tiny_gpt2_dir}"
corpus = "{corpus}"
{TOKENS}""",
        tmp_path,
    )
    by_key = {r.id.rsplit("-", 1)[-1] if "summary" in r.id else r.params["intervention"]: r
              for r in records}  # fmt: skip
    assert sorted(by_key) == sorted(
        ["delete-L0", "delete-L1", "delete-L2", "delete-L3", "swap-L0-L1", "swap-L1-L2",
         "swap-L2-L3", "summary"]
    )  # fmt: skip
    # the numbers are layer_sweep's on the same model and tokens (seed 0 is the run's seed)
    bridge = boot(tiny_gpt2_dir)
    tokens = load_tokens(_documents(str(corpus)), bridge, token_budget=300, seq_len=32,
                         batch_size=4)  # fmt: skip
    frame = layer_sweep(bridge, tokens, n_bootstrap=50).set_index("intervention")
    swap = by_key["swap-L1-L2"]
    assert swap.params["kind"] == "swap" and swap.params["intervention_layers"] == [1, 2]
    assert swap.params["relative_depth"] == pytest.approx(1 / 3)
    assert swap.metrics["robustness.kl"].value == pytest.approx(frame.loc["swap-L1-L2", "kl"])
    assert swap.metrics["robustness.kl"].unit == "nats"
    assert swap.metrics["robustness.kl"].higher_is_better is False
    assert swap.metrics["robustness.entropy_int"].unit == "bits"
    assert swap.metrics["robustness.top1_agreement"].unit == "fraction"
    assert swap.metrics["robustness.n_tokens"].value == tokens.n_predictions
    assert swap.inputs["model"] and swap.inputs["tokens"]
    summary = by_key["summary"]
    assert summary.metrics["robustness.n_interventions"].value == 7
    assert summary.params["models"] == [summary.params["model"]] == [swap.params["model"]]
    pngs = [a for a in summary.artifacts.values() if a.media_type == "image/png"]
    assert len(pngs) == 2 * 4  # (delete, swap) x (kl, acc_retained, top1_agreement, loss_delta)
    for artifact in pngs:
        data = cache.read_blob(artifact.sha256)
        assert data is not None and data.startswith(b"\x89PNG")
    report = LayerSweep.figures(records)
    assert [title for title, _ in report] == [
        "delete: kl vs relative depth", "delete: acc_retained vs relative depth",
        "swap: kl vs relative depth", "swap: acc_retained vs relative depth",
    ]  # fmt: skip


def test_several_models_in_one_run(
    tiny_gpt2_dir: Path, tiny_neox_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    records, _ = run(
        f"""
name = "sweep-models"
[[runs]]
analysis = "robustness.layer-sweep"
[runs.config]
models = ["{tiny_gpt2_dir}", "{tiny_neox_dir}"]
corpus = "{corpus}"
kinds = ["delete"]
{TOKENS}""",
        tmp_path,
    )
    rows = [r for r in records if "kind" in r.params]
    assert len(rows) == 8 and len({r.id for r in rows}) == 8  # one per (model, intervention)
    assert {r.params["model"] for r in rows} == {str(tiny_gpt2_dir), str(tiny_neox_dir)}
    summaries = {r.id.removeprefix(f"{r.run_id}-"): r for r in records if "kind" not in r.params}
    summary = summaries.pop("summary")  # the run's: pooled over both models' rows
    assert summary.params["models"] == [str(tiny_gpt2_dir), str(tiny_neox_dir)]
    assert summary.params["model"] is None  # not the config's unused default model
    assert len(summaries) == 2, "and one summary per model"
    key = "robustness.max_kl"
    for own in summaries.values():
        mine = [r.metrics["robustness.kl"].value for r in rows
                if r.params["model"] == own.params["model"]]  # fmt: skip
        assert own.metrics["robustness.n_interventions"].value == len(mine) == 4
        assert own.metrics[key].value == max(mine)
    assert summary.metrics[key].value == max(r.metrics["robustness.kl"].value for r in rows)
    assert summary.metrics["robustness.n_interventions"].value == 8


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ('kinds = ["drop"]', "config.kinds"),
        ("kinds = []", "config.kinds"),
        ('model = "a"\nmodels = ["b"]', "config"),
        ("n_bootstrap = 0", "config.n_bootstrap"),
    ],
)
def test_bad_configs_are_spec_errors(bad: str, field: str) -> None:
    spec = parse_spec(
        f'name = "x"\n[[runs]]\nanalysis = "robustness.layer-sweep"\n[runs.config]\n{bad}\n'
    )
    with pytest.raises(SpecError, match=rf"run 1 \('robustness\.layer-sweep'\): field '{field}"):
        plan_tasks(spec)
