import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interplab.core.cli import app
from interplab.core.store import Store

SPEC = """
name = "cli-test"
[[runs]]
analysis = "core.selftest"
[runs.sweep]
n_samples = [100, 1000, 10000]
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INTERPLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INTERPLAB_STORE", raising=False)
    monkeypatch.delenv("INTERPLAB_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    return spec


runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_run_list_show_compare_report_export_import(env: Path, tmp_path: Path) -> None:
    code, out, err = invoke("run", str(env), "--no-progress")
    assert code == 0, out + err
    assert "cli-test: 3 runs" in out and "report:" in out
    home = tmp_path / "home"
    store = Store(f"sqlite:///{home}/store.db")
    assert store.count(status="completed") == 3
    assert (home / "report" / "report.html").is_file()

    code, out, _ = invoke("run", str(env), "--no-progress", "--no-report")
    assert code == 0 and out.count("skipped") == 3

    code, out, _ = invoke("runs", "list", "--where", "core.n_samples>=1000")
    assert code == 0 and "2 of 2 records" in out

    one = store.query(limit=1)[0]
    code, out, _ = invoke("runs", "show", one.id[:10], "--json")
    assert code == 0 and json.loads(out)["id"] == one.id

    code, out, _ = invoke("runs", "compare", "--experiment", "cli-test")
    assert code == 0 and "core.pi_abs_error ↓" in out and "param n_samples" in out

    code, out, _ = invoke("export", "jsonl", str(tmp_path / "all.jsonl"))
    assert code == 0 and "wrote 3 records" in out
    code, out, _ = invoke("export", "parquet", str(tmp_path / "all.parquet"), "--package", "core")
    assert code == 0 and "wrote 3 records" in out
    other = f"sqlite:///{tmp_path}/other.db"
    code, out, _ = invoke("import", str(tmp_path / "all.parquet"), "--store", other)
    assert code == 0 and Store(other).query() == store.query()

    code, out, _ = invoke("report", "--out", str(tmp_path / "rep"))
    assert code == 0 and (tmp_path / "rep" / "report.html").is_file()

    code, out, _ = invoke("runs", "delete", one.id, "--yes")
    assert code == 0 and store.count() == 2


def test_analyses_lists_config_fields(env: Path) -> None:
    code, out, _ = invoke("analyses", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    fields = {f["name"]: f for f in rows["core.selftest"]["fields"]}
    assert fields["n_samples"]["default"] == 100_000
    assert "Monte Carlo" in fields["n_samples"]["help"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.toml"], r"spec file 'missing.toml' does not exist"),
        (["run", "{spec}", "--runner", "gpu"], r"--runner 'gpu' is not known"),
        (["runs", "show", "nope"], r"no record with id 'nope'"),
        (["runs", "list", "--where", "loss~3"], r"metric filter 'loss~3' is not of the form"),
        (["import", "{spec}"], r"cannot tell the format of .*spec\.toml.* \(suffix '\.toml'\)"),
        (["import", "nothing.jsonl"], r"import file 'nothing.jsonl' does not exist"),
        (["runs", "delete"], r"say what to delete"),
        (["cache", "clear"], r"pass --yes to confirm"),
        (["runs", "list", "--store", "mysql+nodriver://x"], r"cannot open store"),
    ],
)
def test_user_errors_exit_2_without_traceback(env: Path, args: list[str], message: str) -> None:
    args = [a.replace("{spec}", str(env)) for a in args]
    code, out, err = invoke(*args)
    assert code == 2, out + err
    assert "Traceback" not in out + err
    import re

    assert re.search(message, " ".join(err.split())), err


def test_bad_spec_field_exits_2(env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\n[[runs]]\nanalysis = "core.selftest"\nconfig = {n_samples = "many"}\n'
    )
    code, _, err = invoke("run", str(bad))
    assert code == 2
    assert "run 1 ('core.selftest')" in err and "config.n_samples" in " ".join(err.split())


def test_failed_run_exits_1_and_is_stored(env: Path, tmp_path: Path) -> None:
    spec = tmp_path / "fail.toml"
    spec.write_text(
        'name = "f"\n[[runs]]\nanalysis = "core.selftest"\nconfig = {fail_with = "error"}\n'
    )
    code, out, _ = invoke("run", str(spec), "--no-progress", "--no-report")
    assert code == 1 and "1 run(s) failed" in out
    assert Store(f"sqlite:///{tmp_path}/home/store.db").count(status="failed") == 1


def test_cache_info_and_doctor(env: Path) -> None:
    assert invoke("run", str(env), "--no-progress", "--no-report")[0] == 0
    code, out, _ = invoke("cache", "info")
    assert code == 0 and "entries" in out
    code, out, _ = invoke("cache", "clear", "--yes")
    assert code == 0 and "removed" in out
    code, out, _ = invoke("doctor")
    assert code == 0 and "core.selftest" in out and "3 records" in out


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import interplab.core.cli; "
        "heavy = [m for m in ('torch', 'pandas', 'sqlalchemy', 'matplotlib', 'numpy') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", "from interplab.core.cli import main; main(['--help'])"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    assert result.returncode == 0 and "quickstart" in result.stdout
    print(f"interplab --help took {elapsed:.2f} s")
    assert elapsed < 5, "--help must not import the heavy stack (measured in test output)"


def test_compare_groups_records_of_several_analyses_by_their_inputs(
    env: Path, tmp_path: Path
) -> None:
    from interplab.core.records import ExperimentRecord, Metric

    def rec(i: int, analysis: str, model: str) -> ExperimentRecord:
        return ExperimentRecord.model_validate(
            {
                "id": f"r{i}",
                "run_id": f"r{i}",
                "package": analysis.split(".")[0],
                "analysis": analysis,
                "params": {"i": i},
                "metrics": {"x.score": Metric(value=float(i), higher_is_better=True)},
                "inputs": {"model": "sha256:" + model * 32},
                "experiment": "composed",
            }
        )

    store = Store(f"sqlite:///{tmp_path}/home/store.db")
    pairs = [("a.one", "aa"), ("b.two", "bb"), ("b.two", "aa"), ("a.one", "bb"), ("b.two", "aa")]
    store.add_many([rec(i, analysis, model) for i, (analysis, model) in enumerate(pairs, 1)])
    code, out, _ = invoke("runs", "compare", "--experiment", "composed")
    assert code == 0, out
    rows = [line for line in out.splitlines() if "model=" in line]
    labels = [line.split("model=")[1][:10] for line in rows]
    assert labels == ["aa" * 5] * 3 + ["bb" * 5] * 2, "rows on the same model sit together"
    assert all(("a.one" in line) != ("b.two" in line) for line in rows)

    code, out, _ = invoke("runs", "compare", "r1", "r2")
    assert code == 0 and "input model" in out and "aaaaaaaaaa" in out and "bbbbbbbbbb" in out
