"""``compose.stages-in-algorithmic-transformers`` against independent computations.

One tiny run (Bitwise_Xor, 2 blocks of width 32, 120 steps) goes through the contract check;
the other tests read its records and its cache: the trained folder is found again by its key,
so nothing is retrained.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from interplab.compose._algorithmic.encoding import (
    TaskVocabulary,
    interleave,
    lens_tokens,
    sweep_tokens,
)
from interplab.compose.algorithmic import (
    StagesConfig,
    StagesInAlgorithmicTransformers,
    model_folder,
    task_data,
)
from interplab.core.cache import Cache
from interplab.core.errors import ConfigError
from interplab.core.records import ExperimentRecord
from interplab.core.testing import check_analysis

TINY: dict[str, Any] = {
    "tasks": ["Bitwise_Xor"],
    "n_sequences": 400,
    "n_layers": 2,
    "d_model": 32,
    "n_heads": 2,
    "train_steps": 120,
    "n_bootstrap": 20,
    "mips_budget_s": 30.0,
    "mips_max_exhaustive": 1024,
}
TASK = "Bitwise_Xor"
Run = tuple[list[ExperimentRecord], Cache]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The contract check (two runs on fresh caches) at the tiny size; records of the first."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        workdir = tmp_path_factory.mktemp("algorithmic")
        records = check_analysis(StagesInAlgorithmicTransformers, TINY, workdir=workdir)
    finally:
        torch.set_num_threads(threads)
    return records, Cache(workdir / "cache")


def _by_key(records: list[ExperimentRecord]) -> dict[str, ExperimentRecord]:
    return {r.id.removeprefix(f"{r.run_id}-"): r for r in records}


def _summary(records: list[ExperimentRecord]) -> ExperimentRecord:
    (summary,) = [r for r in records if r.params.get("record") == "task-summary"]
    return summary


def _folder(cache: Cache) -> Path:
    return model_folder(cache, TASK, StagesConfig(**TINY), 0, torch.device("cpu"))


# ---------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("name", ["Bitwise_Xor", "Sum_Last2", "Diff_Last2", "Parity_Last2"])
def test_encoding_round_trips_and_keeps_ranges_apart(name: str) -> None:
    from interplab.mips.tasks import get_task

    task = get_task(name)
    vocab = TaskVocabulary.of(task)
    data = task.generate(50, seed=3)
    x, y = vocab.encode_inputs(data.inputs), vocab.encode_outputs(data.outputs)
    np.testing.assert_array_equal(vocab.decode_outputs(y), data.outputs)
    assert x.min() >= 1 and x.max() <= vocab.n_inputs
    assert vocab.first_output <= y.min() and y.max() < vocab.size
    low, high = task.output_bounds()
    assert vocab.size == 1 + (task.spec.input_max - task.spec.input_min + 1) ** (
        task.spec.input_dims
    ) + (high - low + 1)
    names = vocab.token_names()
    assert len(names) == vocab.size == len(set(names))
    # by hand: a pair (a, b) is token 1 + (a - min) * base + (b - min), a single value 1 + v - min
    raw = np.asarray(data.inputs).reshape(50, task.spec.seq_len, -1) - task.spec.input_min
    base = task.spec.input_max - task.spec.input_min + 1
    by_hand = 1 + (raw[..., 0] * base + raw[..., 1] if raw.shape[2] == 2 else raw[..., 0])
    np.testing.assert_array_equal(x, by_hand)
    assert names[int(y[0, 0])] == f"y:{int(np.ravel(data.outputs[0, 0])[0])}"
    rows = interleave(x, y)
    assert rows.shape == (50, 2 * task.spec.seq_len + 1)
    assert (rows[:, 0] == 0).all()
    np.testing.assert_array_equal(rows[:, 1::2], x)
    np.testing.assert_array_equal(rows[:, 2::2], y)


def test_masks_score_exactly_the_output_predictions() -> None:
    from interplab.robustness.stages._capture import prediction_positions

    rows = np.arange(3 * 7).reshape(3, 7)  # L = 3
    (batch,) = sweep_tokens(rows).batches
    # target_mask[p] scores position p (predicting token p + 1): only the x positions 1, 3, 5
    scored = batch.target_mask.numpy()
    assert [list(np.flatnonzero(r)) for r in scored] == [[1, 3, 5]] * 3
    lens = lens_tokens(rows, batch_size=4)
    keep = torch.cat([prediction_positions(b.mask, include_bos=False) for b in lens.batches])
    ids = torch.cat([b.ids for b in lens.batches])
    assert keep.shape == (9, 7) and (keep.sum(1) == 1).all()
    assert [int(np.flatnonzero(k)[0]) for k in keep.numpy()] == [1, 3, 5] * 3
    np.testing.assert_array_equal(ids.numpy(), np.repeat(rows, 3, axis=0))


# ---------------------------------------------------------------------------- the run


def test_keeps_the_contract_and_writes_the_records(run: Run) -> None:
    records, _ = run
    keys = sorted(_by_key(records))
    assert keys == sorted(
        [
            f"{TASK}-s0-delete-L0",
            f"{TASK}-s0-delete-L1",
            f"{TASK}-s0-swap-L0-L1",
            f"{TASK}-s0-summary",
            "summary",
        ]
    )
    summary = _summary(records)
    assert summary.artifacts["program"].media_type == "text/x-python"
    for record in (summary, _by_key(records)["summary"]):
        for artifact in record.artifacts.values():
            assert artifact.size_bytes > 0


def test_transformer_accuracy_is_the_direct_argmax(run: Run) -> None:
    from transformers import GPT2LMHeadModel

    records, cache = run
    _, vocab, _, test_rows, _, test_outputs = task_data(TASK, StagesConfig(**TINY))
    hf = GPT2LMHeadModel.from_pretrained(str(_folder(cache))).eval()
    with torch.no_grad():
        logits = hf(torch.from_numpy(test_rows)).logits.numpy()
    n, length = test_outputs.shape[:2]
    correct = 0
    for i in range(n):
        for t in range(length):
            token = int(logits[i, 2 * t + 1].argmax())  # the position of x_{t+1}
            if token >= vocab.first_output:
                correct += int(
                    vocab.decode_outputs(np.array([[token]]))[0, 0] == test_outputs[i, t]
                )
    accuracy = _summary(records).metrics["compose.transformer_acc"].value
    assert accuracy == pytest.approx(correct / (n * length), abs=1e-12)
    assert accuracy > 0.9  # Bitwise_Xor is a lookup of the current token: learnt at once


def test_sweep_rows_equal_layer_sweep_called_directly(run: Run) -> None:
    from interplab.robustness import Delete, intervene, layer_sweep, load_model, logits

    records, cache = run
    _, _, _, test_rows, _, _ = task_data(TASK, StagesConfig(**TINY))
    bridge = load_model(_folder(cache), device="cpu", dtype="float32")
    frame = layer_sweep(
        bridge, sweep_tokens(test_rows), ("delete", "swap"), model_name=TASK, n_bootstrap=20
    )
    by_key = _by_key(records)
    for row in frame.to_dict("records"):
        record = by_key[f"{TASK}-s0-{row['intervention']}"]
        for name in ("kl", "acc_orig", "acc_int", "top1_agreement", "loss_delta", "n_tokens"):
            assert record.metrics[f"compose.{name}"].value == pytest.approx(row[name], abs=1e-9)
        assert record.params["relative_depth"] == row["relative_depth"]
        if not math.isnan(row["acc_retained"]):
            assert record.metrics["compose.acc_retained_ci_low"].value == pytest.approx(
                row["acc_retained_ci_low"]
            )
    # the sweep scores the outputs only: its clean accuracy is the transformer's
    accuracy = _summary(records).metrics["compose.transformer_acc"].value
    assert by_key[f"{TASK}-s0-delete-L0"].metrics["compose.acc_orig"].value == pytest.approx(
        accuracy
    )
    assert (
        by_key[f"{TASK}-s0-delete-L0"].metrics["compose.n_tokens"].value == test_rows[:, 2::2].size
    )
    # and deleting block 0, scored by hand at the x positions
    ids = torch.from_numpy(test_rows)
    with intervene(bridge, Delete(0)), torch.no_grad():
        deleted = logits(bridge, ids)
    by_hand = float((deleted[:, 1::2].argmax(-1) == ids[:, 2::2]).double().mean())
    assert by_key[f"{TASK}-s0-delete-L0"].metrics["compose.acc_int"].value == pytest.approx(by_hand)


def test_lens_accuracy_matches_hf_hidden_states(run: Run) -> None:
    from transformers import GPT2LMHeadModel

    records, cache = run
    _, _, _, test_rows, _, _ = task_data(TASK, StagesConfig(**TINY))
    hf = GPT2LMHeadModel.from_pretrained(str(_folder(cache))).eval()
    ids = torch.from_numpy(test_rows)
    with torch.no_grad():
        out = hf(ids, output_hidden_states=True)
        # HF: hidden_states[i] enters block i; the last one already went through ln_f
        decoded = [hf.lm_head(hf.transformer.ln_f(h)) for h in out.hidden_states[:-1]]
        decoded.append(out.logits)
    targets = ids[:, 2::2]
    expected = [float((z[:, 1::2].argmax(-1) == targets).double().mean()) for z in decoded]
    summary = _summary(records)
    assert summary.params["lens_labels"] == ["embed", "L0", "L1"]
    np.testing.assert_allclose(summary.params["lens_accuracy"], expected, atol=1e-12)
    assert summary.params["lens_accuracy"][-1] == pytest.approx(
        summary.metrics["compose.transformer_acc"].value
    )
    # robustness's logit lens ran on the output predictions only: its last entry is the output
    assert summary.params["lens_top1_agreement"][-1] == 1.0
    assert summary.params["lens_kl_nats"][-1] == pytest.approx(0.0, abs=1e-6)
    assert summary.params["lens_positions"] == targets.numel()
    first = summary.metrics["compose.first_decodable_layer"].value
    ratio = StagesConfig().decodable_ratio
    reached = [i for i, a in enumerate(expected) if a >= ratio * expected[-1] - 1e-12]
    assert first == reached[0] - 1


def test_mips_program_from_the_record_reproduces_the_task(run: Run) -> None:
    from interplab.mips.tasks import get_task

    records, cache = run
    summary = _summary(records)
    assert summary.metrics["compose.mips_solved"].value == 1.0
    assert summary.metrics["compose.mips_hidden_dim"].value >= 1
    blob = cache.read_blob(summary.artifacts["program"].sha256)
    assert blob is not None
    source = blob.decode()
    assert summary.metrics["compose.mips_program_lines"].value == sum(
        1 for line in source.splitlines() if line.strip()
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "program.py", "exec"), namespace)  # the program MIPS emitted
    task = get_task(TASK)
    _, test = task.splits(n=TINY["n_sequences"])
    for inputs, outputs in zip(test.inputs, test.outputs, strict=True):
        seq = [tuple(int(v) for v in pair) for pair in inputs]
        assert namespace["program"](seq) == task.rule(seq) == [int(v) for v in outputs]


def test_console_summary_and_figures(run: Run) -> None:
    records, cache = run
    text = StagesInAlgorithmicTransformers.console_summary(records, cache)
    assert text is not None
    header, _, line = text.splitlines()
    for column in ("task", "transformer acc", "most harmful deletion", "first decodable"):
        assert column in header
    summary = _summary(records)
    accuracy = summary.metrics["compose.transformer_acc"].value
    assert line.startswith(TASK) and f"{accuracy:.3f}" in line
    assert summary.params["most_harmful_deletion"] in line and "yes (RNN h=" in line
    figures = StagesInAlgorithmicTransformers.figures(records)
    assert len(figures) == 1 and figures[0][1].startswith(b"\x89PNG")
    overview = cache.read_blob(_by_key(records)["summary"].artifacts["overview"].sha256)
    assert overview is not None and overview.startswith(b"\x89PNG")


def test_cli_runs_a_tiny_spec_from_the_cache(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from interplab.core.cli import app
    from interplab.core.store import Store

    records, cache = run
    config = "\n".join(
        f"{k} = {list(v)!r}".replace("'", '"') if isinstance(v, list) else f"{k} = {v!r}"
        for k, v in TINY.items()
    )
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'name = "algorithmic-tiny"\nseed = 0\ndevice = "cpu"\n[[runs]]\n'
        f'analysis = "compose.stages-in-algorithmic-transformers"\n[runs.config]\n{config}\n'
    )
    monkeypatch.setenv("INTERPLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INTERPLAB_CACHE", str(cache.root))  # the model and MIPS are cached
    monkeypatch.delenv("INTERPLAB_STORE", raising=False)
    trained = sorted((cache.root / "dirs").rglob("*.manifest.json"))
    result = CliRunner().invoke(app, ["run", str(spec), "--no-progress", "--no-report"])
    assert result.exit_code == 0, result.stdout + str(result.exception)
    assert "most harmful deletion" in result.stdout and TASK in result.stdout
    assert sorted((cache.root / "dirs").rglob("*.manifest.json")) == trained  # nothing retrained
    stored = Store(f"sqlite:///{tmp_path / 'home'}/store.db").query(experiment="algorithmic-tiny")
    assert sorted(_by_key(stored)) == sorted(_by_key(records))
    summary = next(r for r in stored if r.params.get("record") == "task-summary")
    assert (
        summary.metrics["compose.transformer_acc"]
        == _summary(records).metrics["compose.transformer_acc"]
    )


# ---------------------------------------------------------------------------- bad input


def _start(config: dict[str, Any], tmp_path: Path) -> None:
    from interplab.core.analysis import RunContext
    from interplab.core.environment import capture_environment

    parsed = StagesConfig(**config)
    ctx = RunContext(
        run_id="bad", analysis=StagesInAlgorithmicTransformers.name, package="compose",
        params=parsed.model_dump(mode="json"), seed=0, device=torch.device("cpu"),
        cache=Cache(tmp_path / "cache"), env=capture_environment(device="cpu", seed=0),
    )  # fmt: skip
    next(iter(StagesInAlgorithmicTransformers().run(parsed, ctx)))


def test_unknown_task_fails_with_mips_error_before_training(tmp_path: Path) -> None:
    from interplab.mips.tasks import get_task

    with pytest.raises(ConfigError) as mips_error:
        get_task("Sum_Lats2")
    with pytest.raises(ConfigError) as ours:
        _start({**TINY, "tasks": ["Bitwise_Xor", "Sum_Lats2"]}, tmp_path)
    assert str(ours.value) == str(mips_error.value)
    assert not (tmp_path / "cache" / "dirs").exists()  # failed before training anything


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"tasks": ["Sum_Last2"], "max_vocab": 100}, "max_vocab=100"),
        ({"tasks": ["Bitwise_Xor", "Newton_Magnetic"]}, "Newton_Magnetic"),
    ],
)
def test_bad_task_data_is_a_config_error(
    config: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        _start({**TINY, **config}, tmp_path)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"d_model": 30, "n_heads": 4}, "does not divide"),
        ({"tasks": ["Prev1", "prev1"]}, "twice"),
        ({"tasks": []}, "at least 1"),
        ({"seeds": [0, 0]}, "twice"),
        ({"n_layers": 0}, "greater than or equal to 1"),
        ({"mips_budget_s": 0}, "greater than 0"),
        ({"n_layer": 4}, "Extra inputs"),
    ],
)
def test_bad_config_is_rejected_with_the_field(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StagesConfig(**config)
