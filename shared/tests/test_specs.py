"""Experiment specs: loading, sweep expansion, run ids, and a message for every mistake."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from interplab.core.errors import SpecError
from interplab.core.specs import ExperimentSpec, Task, load_spec, parse_spec, plan_tasks

DEFAULTS = {"n_samples": 100_000, "n_chunks": 10, "sleep_s": 0.0, "fail_with": "nothing"}


def _write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _plan(path: Path) -> list[Task]:
    return plan_tasks(load_spec(path), origin=str(path))


def _run_id(experiment: str, analysis: str, config: dict[str, Any], seed: int) -> str:
    parts = {"experiment": experiment, "analysis": analysis, "config": config, "seed": seed}
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


SWEEP_SPEC = """
name = "quick"
description = "a sweep"
seed = 3
tags = ["demo", "shared"]

[[runs]]
analysis = "core.selftest"
name = "pi"
tags = ["shared", "sweep"]
device = "cpu"
[runs.config]
n_chunks = 5
[runs.sweep]
n_samples = [1000, 2000, 3000]
seed = [0, 7]

[[runs]]
analysis = "core.selftest"
"""


# ------------------------------------------------------------------ valid specs


def test_sweep_expands_to_the_cartesian_product(tmp_path: Path) -> None:
    path = _write(tmp_path, SWEEP_SPEC)
    tasks = _plan(path)
    assert len(tasks) == 3 * 2 + 1

    swept = tasks[:6]
    assert [(t.config["n_samples"], t.seed) for t in swept] == [
        (n, seed) for n in (1000, 2000, 3000) for seed in (0, 7)
    ]
    for task in swept:
        assert task.config == {**DEFAULTS, "n_chunks": 5, "n_samples": task.config["n_samples"]}
        assert task.analysis == "core.selftest"
        assert task.package == "core"
        assert task.device == "cpu"
        assert task.tags == ("demo", "shared", "sweep")
        assert task.experiment == "quick"
        assert task.label == f"pi[n_samples={task.config['n_samples']},seed={task.seed}]"
        assert task.run_id == _run_id("quick", "core.selftest", task.config, task.seed)

    plain = tasks[6]
    assert plain.config == DEFAULTS  # every default of SelfTestConfig filled in
    assert plain.seed == 3  # the spec's seed
    assert plain.device == "auto"
    assert plain.label == "core.selftest"
    assert plain.tags == ("demo", "shared")
    assert plain.run_id == _run_id("quick", "core.selftest", DEFAULTS, 3)
    assert len({t.run_id for t in tasks}) == len(tasks)


def test_run_seed_overrides_the_spec_seed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'name = "s"\nseed = 4\n[[runs]]\nanalysis = "core.selftest"\nseed = 11\n'
        '[[runs]]\nanalysis = "core.selftest"\n',
    )
    assert [t.seed for t in _plan(path)] == [11, 4]


def test_run_ids_are_deterministic(tmp_path: Path) -> None:
    path = _write(tmp_path, SWEEP_SPEC)
    assert [t.run_id for t in _plan(path)] == [t.run_id for t in _plan(path)]


def _single(tmp_path: Path, name: str, *, experiment: str = "e", body: str = "") -> Task:
    text = f'name = "{experiment}"\n[[runs]]\nanalysis = "core.selftest"\n{body}'
    (task,) = _plan(_write(tmp_path, text, name))
    return task


def test_run_ids_change_with_config_seed_and_experiment(tmp_path: Path) -> None:
    base = _single(tmp_path, "base.toml")
    other_config = _single(tmp_path, "config.toml", body="[runs.config]\nn_samples = 5\n")
    other_seed = _single(tmp_path, "seed.toml", body="seed = 1\n")
    other_experiment = _single(tmp_path, "exp.toml", experiment="f")
    ids = [t.run_id for t in (base, other_config, other_seed, other_experiment)]
    assert len(set(ids)) == 4
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)

    # an explicit default is the same config, and a label or device is not part of the id
    same = _single(
        tmp_path, "same.toml", body='name = "label"\ndevice = "cpu"\n[runs.config]\nn_chunks = 10\n'
    )
    assert same.run_id == base.run_id
    assert same.label == "label"


def test_parse_spec_names_its_origin() -> None:
    spec = parse_spec('name = "x"\n[[runs]]\nanalysis = "core.selftest"\n')
    assert isinstance(spec, ExperimentSpec)
    assert spec.runs[0].analysis == "core.selftest"
    with pytest.raises(SpecError, match=r"^<spec>: top level, field 'runs'"):
        parse_spec('name = "x"\n')
    with pytest.raises(SpecError, match=r"^inline: top level, field 'runs'"):
        parse_spec('name = "x"\n', origin="inline")


# ------------------------------------------------------------------ bad specs

HEAD = 'name = "exp"\n'
RUN = '[[runs]]\nanalysis = "core.selftest"\n'
R1 = r"run 1 \('core\.selftest'\)"
TOP_KEYS = "name, description, store, seed, device, tags, runs"
RUN_KEYS = "analysis, name, config, sweep, seed, device, tags"
DEVICE_FORMS = r"use 'auto', 'cpu', 'cuda', 'cuda:N' \(N = 0, 1, \.\.\.\) or 'mps'\.$"

BAD_SPECS = [
    pytest.param(
        'name = "exp"\nruns = [\n[[runs]]\n',
        r": not valid TOML: .*\(at line 3, column \d+\)",
        id="invalid-toml",
    ),
    pytest.param(RUN, r": top level, field 'name': required but missing", id="missing-name"),
    pytest.param(HEAD, r": top level, field 'runs': required but missing", id="missing-runs"),
    pytest.param(
        HEAD + "runs = []\n",
        r": top level, field 'runs': List should have at least 1 item after validation, not 0$",
        id="empty-runs",
    ),
    pytest.param(
        'name = "has space"\n' + RUN,
        r": top level, field 'name': String should match pattern .*\(got 'has space'\)",
        id="bad-name",
    ),
    pytest.param(
        HEAD + 'stor = "sqlite:///x.db"\n' + RUN,
        rf": top level, key 'stor': unknown; did you mean 'store'\? Allowed: {TOP_KEYS}$",
        id="unknown-top-level-key",
    ),
    pytest.param(
        HEAD + "sed = 3\n" + RUN,
        rf": top level, key 'sed': unknown; did you mean 'seed'\? Allowed: {TOP_KEYS}$",
        id="top-level-key-typo",
    ),
    pytest.param(
        HEAD + "colour = 3\n" + RUN,
        rf": top level, key 'colour': unknown; allowed: {TOP_KEYS}$",
        id="top-level-key-unlike-any",
    ),
    pytest.param(
        HEAD + '[[run]]\nanalysis = "core.selftest"\n',
        rf": top level, key 'run': unknown; did you mean 'runs'\? Allowed: {TOP_KEYS}; "
        r"top level, field 'runs': required but missing$",
        id="run-instead-of-runs",
    ),
    pytest.param(
        HEAD + '[[runs]]\nanalyis = "core.selftest"\n',
        rf": run 1, key 'analyis': unknown; did you mean 'analysis'\? Allowed: {RUN_KEYS}; "
        r"run 1, field 'analysis': required but missing$",
        id="unknown-run-key",
    ),
    pytest.param(
        HEAD + RUN + "[runs.confg]\nn_samples = 3\n",
        rf": {R1}, key 'confg': unknown; did you mean 'config'\? Allowed: {RUN_KEYS}$",
        id="run-key-typo",
    ),
    pytest.param(
        HEAD + RUN + 'seed = "abc"\n',
        rf": {R1}, field 'seed': Input should be a valid integer.*\(got 'abc'\)",
        id="seed-string",
    ),
    pytest.param(
        HEAD + "seed = -1\n" + RUN,
        r": top level, field 'seed': Input should be greater than or equal to 0 \(got -1\)",
        id="negative-seed",
    ),
    pytest.param(
        HEAD + RUN + "seed = 4294967296\n",
        rf": {R1}, field 'seed': Input should be less than 4294967296 \(got 4294967296\)",
        id="seed-too-large",
    ),
    pytest.param(
        HEAD + '[[runs]]\nanalysis = "core.selftst"\n',
        r": run 1 \('core\.selftst'\), field 'analysis': "
        r"No analysis is registered under 'core\.selftst'\. Did you mean 'core\.selftest'\?",
        id="unknown-analysis",
    ),
    pytest.param(
        HEAD + RUN + "[runs.config]\nn_sample = 3\n",
        rf": {R1}: field 'config\.n_sample': 'core\.selftest' has no config field 'n_sample'\. "
        r"Did you mean 'n_samples'\? Its fields are \['fail_with', 'n_chunks', 'n_samples', "
        r"'sleep_s'\]\.",
        id="unknown-config-field",
    ),
    pytest.param(
        HEAD + RUN + '[runs.config]\nn_samples = "many"\n',
        rf": {R1}: field 'config\.n_samples': Input should be a valid integer.*\(got 'many'\)",
        id="config-wrong-type",
    ),
    pytest.param(
        HEAD + RUN + "[runs.config]\nn_samples = 0\n",
        rf": {R1}: field 'config\.n_samples': Input should be greater than or equal to 1 "
        r"\(got 0\)",
        id="config-out-of-range",
    ),
    pytest.param(
        HEAD + RUN + '[runs.config]\nfail_with = "explode"\n',
        rf": {R1}: field 'config\.fail_with': Input should be 'nothing' or 'error' "
        r"\(got 'explode'\)",
        id="config-bad-literal",
    ),
    pytest.param(
        HEAD + RUN + "[runs.sweep]\nwidth = [1, 2]\n",
        rf": {R1}, field 'sweep\.width': 'core\.selftest' has no config field 'width'; "
        r"its fields are \['fail_with', 'n_chunks', 'n_samples', 'sleep_s'\]",
        id="sweep-unknown-field",
    ),
    pytest.param(
        HEAD + RUN + "[runs.sweep]\nn_samples = 5\n",
        rf": {R1}, field 'sweep\.n_samples': Input should be a valid list \(got 5\)",
        id="sweep-not-a-list",
    ),
    pytest.param(
        HEAD + RUN + "[runs.sweep]\nn_samples = []\n",
        rf": {R1}, field 'sweep': sweep field 'n_samples' has an empty list; "
        r"give at least one value$",  # no "Value error, " nor "(got dict)"
        id="sweep-empty-list",
    ),
    pytest.param(
        HEAD + RUN + "[runs.config]\nn_samples = 5\n[runs.sweep]\nn_samples = [1, 2]\n",
        rf": {R1}, field 'sweep\.n_samples': 'n_samples' is set in both \[runs\.config\] "
        r"and \[runs\.sweep\]",
        id="config-and-sweep",
    ),
    pytest.param(
        HEAD + RUN + "[runs.sweep]\nn_samples = [10, 0]\n",
        rf": {R1} \(sweep point n_samples=0\): field 'config\.n_samples': "
        r"Input should be greater than or equal to 1",
        id="sweep-point-out-of-range",
    ),
    pytest.param(
        HEAD + RUN + RUN.replace("[[runs]]\n", '[[runs]]\nname = "again"\n'),
        r": run 2 \('core\.selftest'\) repeats run 1 exactly",
        id="duplicate-run",
    ),
    pytest.param(
        HEAD + RUN + "[runs.sweep]\nseed = [0, 0]\n",
        rf": {R1} \(sweep point seed=0\) repeats run 1 \(sweep point seed=0\) exactly",
        id="duplicate-sweep-point",
    ),
    pytest.param(
        HEAD + RUN + '[runs.sweep]\nseed = [0, "one"]\n',
        rf": {R1}, field 'sweep\.seed': 'one' is not an integer seed",
        id="sweep-seed-string",
    ),
    pytest.param(
        HEAD + RUN + "[runs.sweep]\nseed = [1.5]\n",
        rf": {R1}, field 'sweep\.seed': 1\.5 is not an integer seed",
        id="sweep-seed-float",
    ),
    pytest.param(
        HEAD + RUN + "[runs.sweep]\nseed = [true]\n",
        rf": {R1}, field 'sweep\.seed': True is not an integer seed",
        id="sweep-seed-bool",
    ),
    pytest.param(
        HEAD + RUN + "[runs.sweep]\nseed = [-1]\n",
        rf": {R1}, field 'sweep\.seed': -1 is not an integer seed",
        id="sweep-seed-negative",
    ),
    pytest.param(
        HEAD
        + RUN
        + 'name = "a"\n'
        + RUN
        + 'name = "b"\nseed = 1\n'
        + RUN
        + 'name = "a"\nseed = 5\n',
        r": run 3 \('core\.selftest'\), field 'name': 'a' is also the name of run 1 "
        r"\('core\.selftest'\); give the runs distinct names \(a name labels its run's rows in "
        r"tables\)\.$",
        id="duplicate-run-name",
    ),
    pytest.param(
        HEAD
        + RUN
        + 'name = "a"\n[runs.sweep]\nseed = [0, 1]\n'
        + RUN
        + 'name = "a"\n[runs.sweep]\nseed = [2, 3]\n',
        r": run 2 \('core\.selftest'\), field 'name': 'a' is also the name of run 1 ",
        id="duplicate-run-name-with-sweeps",
    ),
    pytest.param(
        HEAD + 'device = "gpu"\n' + RUN,
        rf": top level, field 'device': device='gpu' is not known; {DEVICE_FORMS}",
        id="device-typo-top-level",
    ),
    pytest.param(
        HEAD + RUN + RUN + 'device = "gpu"\nseed = 1\n',
        rf": run 2 \('core\.selftest'\), field 'device': device='gpu' is not known; "
        rf"{DEVICE_FORMS}",
        id="device-typo-in-run",
    ),
    pytest.param(
        HEAD + RUN + 'device = "cuda:one"\n',
        rf": {R1}, field 'device': device='cuda:one' is not known; {DEVICE_FORMS}",
        id="device-bad-index",
    ),
    pytest.param(
        HEAD + "runs = [1]\n",
        r": run 1, field '\(table\)': Input should be a valid dictionary",
        id="run-not-a-table",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPECS)
def test_bad_spec_is_reported_with_file_run_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text, "my-experiment.toml")
    with pytest.raises(SpecError, match="^" + re.escape(str(path)) + message):
        _plan(path)


def test_unnamed_runs_and_sweep_points_may_share_a_label(tmp_path: Path) -> None:
    text = HEAD + RUN + RUN + "seed = 1\n" + RUN + 'name = "pi"\n[runs.sweep]\nseed = [2, 3]\n'
    labels = [t.label for t in _plan(_write(tmp_path, text))]
    assert labels == ["core.selftest", "core.selftest", "pi[seed=2]", "pi[seed=3]"]


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:7", "mps", " CUDA:1 "])
def test_device_syntax_is_checked_but_not_availability(tmp_path: Path, device: str) -> None:
    text = f'name = "e"\ndevice = "{device}"\n{RUN}{RUN}device = "{device}"\nseed = 1\n'
    assert [t.device for t in _plan(_write(tmp_path, text))] == [device, device]


def test_planning_imports_no_torch(tmp_path: Path) -> None:
    path = _write(tmp_path, f'name = "e"\ndevice = "cuda:3"\n{RUN}device = "mps"\n')
    code = (
        "import sys\n"
        "from interplab.core.specs import load_spec, plan_tasks\n"
        f"plan_tasks(load_spec({str(path)!r}))\n"
        "assert 'torch' not in sys.modules, 'planning imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_cli_run_with_a_device_typo_exits_2_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from interplab.core.cli import app

    monkeypatch.setenv("INTERPLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INTERPLAB_STORE", raising=False)
    monkeypatch.delenv("INTERPLAB_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store.db"
    path = _write(tmp_path, f'name = "e"\nstore = "sqlite:///{store}"\n{RUN}device = "gpu"\n')
    result = CliRunner().invoke(app, ["run", str(path), "--no-progress", "--no-report"])
    assert result.exit_code == 2, result.stdout + result.stderr
    flat = " ".join(result.stderr.split())
    assert "run 1 ('core.selftest'), field 'device': device='gpu' is not known" in flat
    assert "Traceback" not in result.stdout + result.stderr
    assert not store.exists()


def test_missing_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "spec.toml"
    with pytest.raises(SpecError, match=re.escape(f"spec file {str(path)!r} does not exist")):
        load_spec(path)


def test_unreadable_spec_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=re.escape(f"cannot read spec file {str(tmp_path)!r}")):
        load_spec(tmp_path)  # a directory
