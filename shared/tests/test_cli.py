import base64
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interplab.core.cli import app
from interplab.core.cli._common import open_cache
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
    monkeypatch.delenv("COLUMNS", raising=False)  # output width: natural (not a terminal)
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
    code, out, _ = invoke("runs", "list", "--since", "2000-01-01")
    assert code == 0 and "3 of 3 records" in out
    code, out, _ = invoke("runs", "list", "--since", "2999-01-01T00:00:00+02:00")
    assert code == 0 and "0 of 0 records" in out

    one = store.query(limit=1)[0]
    code, out, _ = invoke("runs", "show", one.id[:10], "--json")
    assert code == 0 and json.loads(out)["id"] == one.id

    code, out, _ = invoke("runs", "compare", "--experiment", "cli-test")
    assert code == 0 and "core.pi_abs_error ↓" in out and "param n_samples" in out

    code, out, _ = invoke("export", "jsonl", str(tmp_path / "all.jsonl"))
    assert code == 0 and "wrote 3 records" in out
    artifacts = sum(len(r.artifacts) for r in store.query())
    assert artifacts > 0 and f"their {artifacts} artifacts" in " ".join(out.split())
    code, out, _ = invoke("export", "parquet", str(tmp_path / "all.parquet"), "--package", "core")
    assert code == 0 and "wrote 3 records" in out
    other = f"sqlite:///{tmp_path}/other.db"
    code, out, _ = invoke("import", str(tmp_path / "all.parquet"), "--store", other)
    assert code == 0 and Store(other).query() == store.query()
    assert "imported 3 new records, replaced 0, 0 already stored" in " ".join(out.split())

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
        (
            ["runs", "list", "--store", "foo://bar"],
            r"cannot open store 'foo://bar': .* interplab supports sqlite:///path/store\.db "
            r"\(or a plain file path\) and postgresql://user@host/db\.",
        ),
        (
            ["runs", "list", "--status", "complete"],
            r"status 'complete' is not one of running, "
            r"completed, failed, interrupted\. Did you mean 'completed'\?",
        ),
        (["runs", "delete", "--status", "bogus", "--yes"], r"status 'bogus' is not one of"),
        (["runs", "list", "--where", "core.x<nan"], r"'core\.x<nan' would match nothing"),
        (["runs", "list", "--limit", "0"], r"Invalid value for '--limit'"),
        (["runs", "list", "--since", "yesterday"], r"since='yesterday' is not an ISO date or"),
    ],
)
def test_user_errors_exit_2_without_traceback(env: Path, args: list[str], message: str) -> None:
    Store(f"sqlite:///{env.parent}/home/store.db").close()  # an empty store, for the reading ones
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
        '[[runs]]\nanalysis = "core.selftest"\nconfig = {n_samples = 100}\n'
    )
    code, out, _ = invoke("run", str(spec), "--no-progress", "--no-report")
    store = Store(f"sqlite:///{tmp_path}/home/store.db")
    failed = store.query(status="failed")
    assert code == 1 and len(failed) == 1 and store.count(status="completed") == 1
    run_ids = [r.run_id for r in store.query()]
    assert all(run_id in out for run_id in run_ids), "the table shows every run's id"
    hint = f"1 run(s) failed; `interplab runs show {failed[0].run_id}` shows why."
    assert hint in " ".join(out.split())

    code, out, _ = invoke("runs", "show", failed[0].run_id)
    assert code == 0 and "[failed]" in out.splitlines()[0]
    code, out, _ = invoke("runs", "show", run_ids[1] if run_ids[0] == failed[0].id else run_ids[0])
    assert code == 0 and "[completed]" in out.splitlines()[0]


def test_run_writes_its_report_under_interplab_home(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERPLAB_CACHE", str(tmp_path / "shared" / "cache"))
    code, out, _ = invoke("run", str(env), "--no-progress")
    report = tmp_path / "home" / "report" / "report.html"
    assert code == 0 and f"report:{report.resolve()}" in "".join(out.split())
    assert report.is_file() and not (tmp_path / "shared" / "report").exists()
    assert (tmp_path / "shared" / "cache").is_dir()


def test_unusable_interplab_home_is_a_user_error_and_doctor_reports_it(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    monkeypatch.setenv("INTERPLAB_HOME", str(blocker / "home"))
    message = (
        f"INTERPLAB_HOME='{blocker / 'home'}' cannot be created or written ('{blocker}' is a file)"
    )
    for args in (["runs", "list"], ["run", str(env)], ["report"], ["cache", "info"]):
        code, out, err = invoke(*args)
        assert code == 2 and "Traceback" not in out + err, args
        assert message in " ".join(err.split()), err
    assert not (blocker.parent / "report").exists()
    code, out, err = invoke("doctor")
    assert code == 0, out + err
    flat = " ".join("".join(line.split("│")[2:]).strip() for line in out.splitlines())
    assert "".join(message.split()) in "".join(flat.split()), "a red row, not a crash"
    assert "core: selftest" in out  # analyses, one line per package


def test_bad_output_paths_are_user_errors(env: Path, tmp_path: Path) -> None:
    Store(f"sqlite:///{tmp_path}/home/store.db").close()  # empty: what is wrong is the output
    blocker = tmp_path / "afile"
    blocker.write_text("")
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    cases = [
        (
            ["report", "--out", str(blocker)],
            rf"cannot write the report into '{blocker}' .*is a file",
        ),
        (["export", "parquet", str(blocker / "x.parquet")], rf"'{blocker}' is a file"),
        (["export", "jsonl", str(folder)], rf"'{folder}' is a folder; name a file"),
        (["export", "jsonl", "runs.csv"], r"'runs\.csv' does not end in \.jsonl or \.ndjson"),
        (["export", "parquet", "x.jsonl"], r"'x\.jsonl' does not end in \.parquet or \.pq"),
    ]
    for args, message in cases:
        code, out, err = invoke(*args)
        assert code == 2 and "Traceback" not in out + err, args
        assert re.search(message, " ".join(err.split())), err
    assert not (tmp_path / "runs.csv").exists() and not (tmp_path / "x.jsonl").exists()
    code, out, err = invoke("import", str(blocker))
    assert (
        code == 2 and "format=" not in err and "reads .jsonl and .parquet" in " ".join(err.split())
    )


def test_cache_info_and_doctor(env: Path) -> None:
    assert invoke("run", str(env), "--no-progress", "--no-report")[0] == 0
    code, out, _ = invoke("cache", "info")
    assert code == 0 and "entries" in out
    code, out, _ = invoke("cache", "clear", "--yes")
    store = Store(f"sqlite:///{env.parent}/home/store.db")
    artifacts = {a.sha256 for r in store.query() for a in r.artifacts.values()}
    flat = " ".join(out.split())
    assert code == 0 and "removed" in flat and f"kept {len(artifacts)} artifacts" in flat
    cache = open_cache(None)
    assert artifacts and all(cache.read_blob(sha) for sha in artifacts)
    assert cache.info().entries == 0
    code, out, _ = invoke("report", "--out", str(env.parent / "rep"))
    html = (env.parent / "rep" / "report.html").read_text()
    figures = [base64.b64encode(cache.read_blob(sha) or b"").decode() for sha in artifacts]
    assert code == 0 and all(figure in html for figure in figures), "the report still shows them"
    code, out, _ = invoke("doctor")
    text = re.sub(r"[\s│]", "", out)  # long paths are folded across lines, at any character
    assert code == 0 and "core:selftest" in text and "3records" in text


def test_metric_values_format_even_when_not_finite() -> None:
    from interplab.core.records import format_value

    assert format_value(math.inf, "nats") == "inf nats"
    assert format_value(-math.inf) == "-inf"
    assert format_value(math.nan, "s") == "nan s"
    assert format_value(2.0, "s") == "2 s" and format_value(0.123456) == "0.1235"


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


def _two_seeds(tmp_path: Path) -> Path:
    spec = tmp_path / "seeds.toml"
    spec.write_text(
        'name = "seeds"\n[[runs]]\nanalysis = "core.selftest"\nname = "pi"\n'
        "[runs.sweep]\nn_samples = [100]\nseed = [0, 1]\n"
    )
    assert invoke("run", str(spec), "--no-progress", "--no-report")[0] == 0
    return spec


def test_seed_shows_in_frames_compare_and_report(env: Path, tmp_path: Path) -> None:
    from interplab.core.report import render_report

    _two_seeds(tmp_path)
    store = Store(f"sqlite:///{tmp_path}/home/store.db")
    wide = store.to_frame(experiment="seeds", wide=True)
    assert sorted(wide["seed"]) == [0, 1] and "param.seed" not in wide.columns
    assert sorted(set(store.to_frame(experiment="seeds")["seed"])) == [0, 1]
    code, out, _ = invoke("runs", "compare", "--experiment", "seeds")
    seed_rows = [line.split("│") for line in out.splitlines() if "param seed" in line]
    assert code == 0 and len(seed_rows) == 1
    assert sorted(cell.strip() for cell in seed_rows[0][2:-1]) == ["0", "1"]
    html = render_report(store.query(experiment="seeds"))
    assert '<th class="text">seed</th>' in html
    assert '<td class="text">0</td>' in html and '<td class="text">1</td>' in html


def test_compare_dedupes_and_heads_columns_with_usable_prefixes(env: Path, tmp_path: Path) -> None:
    _two_seeds(tmp_path)
    store = Store(f"sqlite:///{tmp_path}/home/store.db")
    first, second = (r.id for r in store.query(experiment="seeds"))
    code, out, err = invoke("runs", "compare", first[:8], first[:8])
    assert code == 2 and "compare needs at least two records" in err
    code, out, _ = invoke("runs", "compare", first[:8], "--experiment", "seeds")
    assert code == 0 and "2 records" in out
    header = next(line for line in out.splitlines() if first[:16] in line)
    shown = [cell.strip() for cell in header.split("┃")[2:-1]]
    assert sorted(shown) == sorted([first[:16], second[:16]])
    for prefix in shown:
        assert invoke("runs", "show", prefix)[0] == 0
    code, _, err = invoke("runs", "compare", "--experiment", "nosuch")
    assert code == 2
    assert "no stored record has the experiment 'nosuch'. Known experiments: seeds." in " ".join(
        err.split()
    )


def test_where_on_an_unknown_metric_key_names_the_known_ones(env: Path, tmp_path: Path) -> None:
    _two_seeds(tmp_path)
    code, _, err = invoke("runs", "list", "--where", "pi_abs_error<0.01")
    flat = " ".join(err.split())
    assert code == 2 and "no stored record has the metric 'pi_abs_error'" in flat
    assert "Did you mean 'core.pi_abs_error'?" in flat and "core.pi_estimate" in flat
    code, out, _ = invoke("runs", "list", "--where", "core.pi_abs_error<10")
    assert code == 0 and "2 of 2 records" in out
    code, out, _ = invoke("runs", "list", "--limit", "1")
    assert code == 0 and "1 of 2 records" in out


def test_cache_info_lists_entries_by_codec(env: Path, tmp_path: Path) -> None:
    from interplab.core.cache import Cache

    cache = Cache(tmp_path / "home" / "cache")
    cache.get_or_compute({"a": 1}, lambda: {"x": 1})
    cache.get_or_compute({"a": 2}, lambda: {"x": 2})
    code, out, _ = invoke("cache", "info")
    codec = next(iter(cache.info().by_codec))
    assert code == 0 and f"entries │ 2 ({codec}: 2)" in out and "{" not in out


def test_import_skips_stored_records_and_replaces_changed_ones_only_when_asked(
    env: Path, tmp_path: Path
) -> None:
    assert invoke("run", str(env), "--no-progress", "--no-report")[0] == 0
    export = tmp_path / "all.jsonl"
    assert invoke("export", "jsonl", str(export))[0] == 0
    code, out, _ = invoke("import", str(export))
    assert code == 0 and "imported 0 new records, replaced 0, 3 already stored" in out
    lines = export.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["metrics"]["core.pi_abs_error"]["value"] = 123.0
    export.write_text("\n".join([json.dumps(edited), *lines[1:]]) + "\n")
    store = Store(f"sqlite:///{tmp_path}/home/store.db")
    before = store.get(edited["id"])
    code, _, err = invoke("import", str(export))
    flat = " ".join(err.split())
    assert code == 2 and f"({edited['id']}), so nothing was imported" in flat
    assert "--replace" in flat and store.get(edited["id"]) == before
    code, out, _ = invoke("import", str(export), "--replace")
    assert code == 0 and "imported 0 new records, replaced 1, 2 already stored" in out
    assert store.get(edited["id"]).metrics["core.pi_abs_error"].value == 123.0
    folder = tmp_path / "exports"
    folder.mkdir()
    code, _, err = invoke("import", str(folder))
    assert code == 2 and "is a directory; pass the export file" in " ".join(err.split())


def test_filters_on_unknown_experiments_analyses_or_packages_say_so(
    env: Path, tmp_path: Path
) -> None:
    _two_seeds(tmp_path)
    keep = tmp_path / "keep.jsonl"
    assert invoke("export", "jsonl", str(keep))[0] == 0
    kept = keep.read_text()
    cases = [
        (["runs", "list", "--experiment", "sedes"], "experiment 'sedes'. Did you mean 'seeds'?"),
        (["runs", "list", "--analysis", "core.selftst"], "Did you mean 'core.selftest'?"),
        (["runs", "list", "--package", "nope"], "no stored record has the package 'nope'."),
        (["runs", "delete", "--experiment", "sedes", "--yes"], "Known experiments: seeds."),
        (["runs", "compare", "--analysis", "x"], "Known analyses: core.selftest."),
        (["export", "jsonl", str(keep), "--experiment", "nope"], "Known experiments: seeds."),
        (["export", "jsonl", str(keep), "--status", "failed"], "no records match status='failed'"),
    ]
    for args, message in cases:
        code, out, err = invoke(*args)
        flat = " ".join(err.split())
        assert code == 2 and message in flat and "Traceback" not in out + err, (args, flat)
    assert "was left as it was" in flat and keep.read_text() == kept
    assert Store(f"sqlite:///{tmp_path}/home/store.db").count() == 2
    code, out, _ = invoke("runs", "list", "--experiment", "seeds", "--status", "failed")
    assert code == 0 and "0 of 0 records" in out  # known values that select nothing


def test_show_and_delete_take_the_run_id_of_a_run_with_several_records(
    env: Path, tmp_path: Path
) -> None:
    from interplab.core.records import ExperimentRecord

    def rec(record_id: str, run_id: str) -> ExperimentRecord:
        return ExperimentRecord(
            id=record_id, run_id=run_id, package="core", analysis="core.selftest"
        )

    store = Store(f"sqlite:///{tmp_path}/home/store.db")
    store.add_many([rec(f"5d1e-layer{i}", "5d1e") for i in range(3)] + [rec("5d2f-a", "5d2f")])
    code, out, err = invoke("runs", "show", "5d1e")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines() if "core.selftest" in line] == [
        "5d1e-layer0", "5d1e-layer1", "5d1e-layer2"
    ]  # fmt: skip
    code, out, _ = invoke("runs", "show", "5d1e", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [f"5d1e-layer{i}" for i in range(3)]
    code, _, err = invoke("runs", "show", "5d")
    assert code == 2 and "prefix '5d' is ambiguous" in err
    code, out, _ = invoke("runs", "delete", "5d1e", "--yes")
    assert code == 0 and "deleted 3 record(s)" in out
    assert [r.id for r in store.query()] == ["5d2f-a"]


def _export_of_one_record(path: Path) -> Path:
    from interplab.core.records import ExperimentRecord

    record = ExperimentRecord(id="r1", run_id="r1", package="core", analysis="core.selftest")
    path.write_text(record.to_json() + "\n")
    return path


@pytest.mark.parametrize("source", ["--store", "INTERPLAB_STORE", "default"])
def test_reading_commands_refuse_a_store_file_that_does_not_exist(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    extra: list[str] = []
    if source == "default":
        missing = tmp_path / "home" / "store.db"
        said = (
            f"store '{missing}' (the default, $INTERPLAB_HOME/store.db) does not exist; run an "
            "experiment first (`interplab run SPEC`) to create it, or name an existing store "
            "with --store or INTERPLAB_STORE."
        )
    else:
        missing = tmp_path / "typo" / "dir" / "s.db"
        if source == "--store":
            extra = ["--store", str(missing)]
        else:
            monkeypatch.setenv("INTERPLAB_STORE", str(missing))
        said = (
            f"store '{missing}' (from {source}) does not exist; check the path, or run an "
            "experiment first (`interplab run SPEC`) to create it."
        )
    commands = [
        ["runs", "list"], ["runs", "show", "abc"], ["runs", "compare", "a", "b"],
        ["runs", "delete", "abc", "--yes"], ["export", "jsonl", "out.jsonl"],
        ["export", "parquet", "out.parquet"],
        ["export", "mlflow", "--tracking-uri", f"sqlite:///{tmp_path}/ml.db"],
        ["report", "--out", "rep"],
    ]  # fmt: skip
    if source != "default":  # a mistyped store must not cost the real one's artifacts
        commands.append(["cache", "clear", "--yes"])
    for args in commands:
        code, out, err = invoke(*args, *extra)
        assert code == 2 and "Traceback" not in out + err, (args, out + err)
        assert err == f"error: {said}\n", (args, err)  # one line
    assert not missing.exists() and not (tmp_path / "typo").exists()
    assert not {"out.jsonl", "out.parquet", "ml.db", "rep"} & {p.name for p in tmp_path.iterdir()}

    code, out, _ = invoke("doctor", *extra)  # says so too, and only looks
    assert code == 0 and said in out and not missing.exists()

    code, out, err = invoke("import", str(_export_of_one_record(tmp_path / "one.jsonl")), *extra)
    assert code == 0 and missing.is_file(), out + err  # commands that write make the store
    code, out, _ = invoke("runs", "list", *extra)
    assert code == 0 and "1 of 1 record" in out


def test_cache_clear_without_a_default_store_clears_all_and_makes_none(env: Path) -> None:
    open_cache(None).get_or_compute({"a": 1}, lambda: {"x": 1})
    code, out, err = invoke("cache", "clear", "--yes")
    assert code == 0 and "removed 1 cache items" in " ".join(out.split()), out + err
    assert not (env.parent / "home" / "store.db").exists()


def test_tables_are_not_cut_when_stdout_is_not_a_terminal(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interplab.core.records import ExperimentRecord, Metric, format_value
    from interplab.core.registry import analysis_names, get_analysis

    code, out, _ = invoke("run", str(env), "--no-progress", "--no-report")
    assert code == 0 and "…" not in out
    store = Store(f"sqlite:///{tmp_path}/home/store.db")
    for r in store.query():
        row = next(line for line in out.splitlines() if r.run_id in line)
        headline = ", ".join(
            f"{k.split('.', 1)[1]}={format_value(m.value)}" for k, m in list(r.metrics.items())[:3]
        )
        assert f"│ core.selftest[n_samples={r.params['n_samples']}]" in row, row
        assert "│ core.selftest │" in row and f"│ {headline} " in row, row

    code, out, _ = invoke("analyses")
    lines = out.splitlines()
    assert code == 0
    for name in analysis_names():
        assert any(line.startswith(f"│ {name} ") for line in lines), name
        assert get_analysis(name).summary() in out, name
    assert "Monte Carlo points used to estimate pi." in out

    # a param and a metric share a short name; metric names too long for 80 columns
    long = [f"core.{w}_of_the_estimate_over_all_the_samples" for w in ("bias", "spread")]

    def rec(i: int, n: int) -> ExperimentRecord:
        metrics = {"core.n_samples": Metric(value=n, unit="points")}
        metrics |= {k: Metric(value=i + 0.123456) for k in long}
        return ExperimentRecord.model_validate({
            "id": f"c{i}", "run_id": f"c{i}", "package": "core", "analysis": "core.selftest",
            "experiment": "clash", "params": {"n_samples": n}, "metrics": metrics,
        })  # fmt: skip

    store.add_many([rec(i, n) for i, n in enumerate([100, 200, 300, 400, 500])])
    code, out, _ = invoke("runs", "compare", "--experiment", "clash")
    header = next(line for line in out.splitlines() if "n_samples" in line)
    shown = [cell.strip() for cell in header.split("┃")[1:-1]]
    assert shown == ["param.n_samples", "n_samples", *(k.removeprefix("core.") for k in long)]
    assert code == 0 and "metric columns are core.<name>" in out and "…" not in out
    assert "│ 500             │ 500 points │" in out and "4.123" in out

    monkeypatch.setenv("COLUMNS", "60")  # honoured: the table fits, its cells fold
    code, out, _ = invoke("runs", "compare", "--experiment", "clash")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 60, out
    assert "…" not in out and "param.n_samples" in out


@pytest.mark.parametrize("runner_name", ["local", "process", "ray"])
@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_below_one_are_refused_before_anything_runs(
    env: Path, tmp_path: Path, runner_name: str, workers: str
) -> None:
    store = tmp_path / "w.db"
    args = ["run", str(env), "--runner", runner_name, "--workers", workers, "--store", str(store)]
    code, out, err = invoke(*args)
    assert code == 2 and out == "", out + err
    assert f"error: --workers={workers} must be at least 1 (the number of worker processes)" in err
    assert not store.exists() and not (tmp_path / "home" / "report").exists()


def test_import_of_a_directory_says_to_pass_the_export_file_inside_it(
    env: Path, tmp_path: Path
) -> None:
    (tmp_path / "home").mkdir()
    code, _, err = invoke("import", "home")
    assert code == 2 and err == (
        "error: 'home' is a directory; pass the export file (.jsonl or .parquet, written by "
        "`interplab export`) inside it; it holds no .jsonl, .ndjson, .parquet or .pq file.\n"
    )
    _export_of_one_record(tmp_path / "home" / "all.jsonl")
    code, _, err = invoke("import", "home")
    assert code == 2 and "inside it; it holds 'home/all.jsonl'." in err
    assert not (tmp_path / "home" / "store.db").exists(), "a bad import path makes no store"
    code, out, _ = invoke("import", "home/all.jsonl")
    assert code == 0 and "imported 1 new records" in out


def test_compare_across_experiments_names_them_sorts_by_params_and_marks_best(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, sizes in (("exp-a", "[3000, 100, 20000]"), ("exp-b", "[500, 100]")):
        spec = tmp_path / f"{name}.toml"
        spec.write_text(
            f'name = "{name}"\n[[runs]]\nanalysis = "core.selftest"\n'
            f"[runs.sweep]\nn_samples = {sizes}\n"
        )
        assert invoke("run", str(spec), "--no-progress", "--no-report")[0] == 0
    code, out, _ = invoke("runs", "compare", "-e", "exp-a", "-e", "exp-b")
    assert code == 0, out
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]
    header = next(line for line in out.splitlines() if "param.n_samples" in line)
    assert header.split("┃")[1].strip() == "experiment"
    assert [(r[0], int(r[1])) for r in rows] == [
        ("exp-a", 100), ("exp-b", 100), ("exp-b", 500), ("exp-a", 3000), ("exp-a", 20000),
    ]  # numbers by value, not as text  # fmt: skip
    assert " *" in out, "the best value is marked without colour too"
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = invoke("runs", "list")
    record = Store(f"sqlite:///{tmp_path}/home/store.db").query(limit=1, newest_first=True)[0]
    assert code == 0 and record.id in out, "ids are never split across lines"


def test_workers_with_the_local_runner_is_refused_not_ignored(env: Path, tmp_path: Path) -> None:
    code, _, err = invoke("run", str(env), "--workers", "4", "--no-progress")
    assert code == 2 and "use --runner process --workers 4" in " ".join(err.split())
    assert not (tmp_path / "home" / "store.db").exists(), "nothing ran"
    assert invoke("run", str(env), "--workers", "1", "--no-progress", "--no-report")[0] == 0
