"""Store URLs the CLI and the store refuse with a clear message instead of a traceback or a file."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from interplab.core.cli import app
from interplab.core.errors import StoreError
from interplab.core.records import ExperimentRecord
from interplab.core.store import Store
from interplab.core.store._engine import normalize_url

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (the current one) with its own INTERPLAB_HOME."""
    monkeypatch.setenv("INTERPLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INTERPLAB_STORE", raising=False)
    monkeypatch.delenv("INTERPLAB_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def made(tmp_path: Path) -> set[str]:
    """What is in ``tmp_path`` besides INTERPLAB_HOME and ``one.jsonl``."""
    return {p.name for p in tmp_path.iterdir()} - {"home", "one.jsonl"}


def one_record(tmp_path: Path) -> str:
    """An export file of one record, for ``import`` (a command that creates its store)."""
    record = ExperimentRecord(id="r1", run_id="r1", package="core", analysis="core.selftest")
    path = tmp_path / "one.jsonl"
    path.write_text(record.to_json() + "\n")
    return str(path)


def test_a_sqlite_url_sqlalchemy_rejects_is_a_store_error(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = (
        "error: store URL 'sqlite://relative.db' is not a valid SQLite URL (SQLite takes no "
        "host; a file path follows 'sqlite:///'); use 'sqlite:///relative.db' for a path "
        "relative to the current directory, 'sqlite:////abs/path/relative.db' for an absolute "
        "one.\n"
    )
    code, out, err = invoke("runs", "list", "--store", "sqlite://relative.db")
    assert code == 2 and err == said and "Traceback" not in out + err
    with pytest.raises(StoreError, match=r"'sqlite://u:\*\*\*@h/x\.db' is not a valid SQLite"):
        Store("sqlite://u:secret@h/x.db")
    with pytest.raises(StoreError, match=r"not a valid SQLite URL \(could not convert"):
        Store("sqlite:///x.db?timeout=abc")
    with pytest.raises(StoreError, match=r"'postgresql\+psycopg://u@h:abc/db' is not a valid"):
        Store("postgresql://u@h:abc/db")
    code, out, err = invoke("runs", "list", "--store", "postgresql://u@h:abc/db")
    assert code == 2 and "is not a valid SQLAlchemy URL" in err

    monkeypatch.setenv("INTERPLAB_STORE", "sqlite://x")
    code, out, err = invoke("doctor")  # doctor shows the problem in its store row
    assert code == 0 and "is not a valid SQLite URL" in out and "Traceback" not in out + err
    monkeypatch.delenv("INTERPLAB_STORE")

    spec = env / "spec.toml"
    spec.write_text('name = "t"\nstore = "sqlite://bad"\n[[runs]]\nanalysis = "core.selftest"\n')
    code, out, err = invoke("run", str(spec), "--no-progress")
    assert code == 2 and "'sqlite://bad' is not a valid SQLite URL" in err
    assert made(env) == {"spec.toml"}


@pytest.mark.parametrize(
    ("url", "suggests"),
    [
        ("sqlite:/x.db", "write 'sqlite:///x.db' for a SQLite file"),
        ("sqlite:x.db", "write 'sqlite:///x.db' for a SQLite file"),
        ("postgres:/x", "write 'postgresql://user@host/db' for PostgreSQL"),
        ("postgresql:db", "write 'postgresql://user@host/db' for PostgreSQL"),
    ],
)
def test_a_scheme_without_slashes_is_refused_not_made_a_file(
    env: Path, url: str, suggests: str
) -> None:
    code, out, err = invoke("import", one_record(env), "--store", url)  # import creates stores
    assert code == 2 and "Traceback" not in out + err
    assert err.startswith(f"error: store {url!r} starts like a URL") and suggests in err
    with pytest.raises(StoreError, match="has no '://'"):
        Store(url)
    assert made(env) == set()


def test_existing_paths_with_colons_and_drive_letters_stay_paths(env: Path) -> None:
    (env / "ab:c.db").write_text("")
    assert normalize_url("ab:c.db") == f"sqlite:///{env.resolve()}/ab:c.db"
    assert normalize_url("./new:x.db") == f"sqlite:///{env.resolve()}/new:x.db"
    assert normalize_url("C:x.db") == f"sqlite:///{env.resolve()}/C:x.db"  # a drive letter
    assert normalize_url(":memory:") == "sqlite:///:memory:"


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", ":memory:", "sqlite:///file::memory:?uri=true"]
)
def test_the_cli_refuses_in_memory_stores(env: Path, url: str) -> None:
    said = f"error: store {url!r} (from --store) is an in-memory SQLite database"
    for args in (
        ["runs", "list"], ["export", "jsonl", "out.jsonl"], ["report", "--out", "rep"],
        ["import", one_record(env)], ["cache", "clear", "--yes"],
    ):  # fmt: skip
        code, out, err = invoke(*args, "--store", url)
        assert code == 2 and err.startswith(said) and "Traceback" not in out + err, (args, err)
        assert "name a file instead" in err
    assert made(env) == set()


def test_the_python_api_keeps_in_memory_stores() -> None:
    with Store("sqlite://") as store:
        assert store.count() == 0


def test_an_empty_store_option_is_an_error_an_empty_env_var_is_unset(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = invoke("runs", "list", "--store", "")
    assert code == 2 and err.startswith("error: --store is empty; name a store")
    code, _, err = invoke("runs", "list", "--store", "  ")
    assert code == 2 and err.startswith("error: --store is empty")
    monkeypatch.setenv("INTERPLAB_STORE", "")
    code, _, err = invoke("runs", "list")
    assert code == 2 and "(the default, $INTERPLAB_HOME/store.db) does not exist" in err
    assert made(env) == set()


def test_a_missing_store_is_shown_resolved_with_a_hint_for_four_slashes(env: Path) -> None:
    absolute = env / "missing" / "s.db"  # under /tmp/...: its first folder is not in env
    three = f"sqlite://{absolute}"  # sqlite:///tmp/... : relative to the current directory
    assert not (env / absolute.parts[1]).exists()
    code, _, err = invoke("runs", "list", "--store", three)
    relative = env.resolve() / str(absolute).lstrip("/")
    assert code == 2 and err.startswith(f"error: store '{relative}' (from --store) does not exist")
    assert f"write four: 'sqlite:///{absolute}'" in err
    code, _, err = invoke("runs", "list", "--store", "sqlite:///nope/s.db")
    said = f"error: store '{env.resolve() / 'nope' / 's.db'}' (from --store) does not exist; check"
    assert code == 2 and err.startswith(said) and "four" not in err
    assert made(env) == set()


SPEC = 'name = "urls"\n{store}[[runs]]\nanalysis = "core.selftest"\nconfig = {{n_samples = 10}}\n'


@pytest.mark.parametrize("store", ["sqlite://", ":memory:", "", "sqlite:/x.db"])
def test_run_refuses_a_bad_store_before_anything_runs(env: Path, store: str) -> None:
    spec = env / "spec.toml"
    spec.write_text(SPEC.format(store=""))
    code, out, err = invoke("run", str(spec), "--store", store, "--no-progress")
    assert code == 2 and "Traceback" not in out + err and "completed" not in out
    assert "error: " in err and made(env) == {"spec.toml"}
    assert not (env / "home" / "report").exists(), "the default report is left as it was"


def test_run_takes_the_specs_store_unless_the_command_line_or_environment_names_one(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = env / "spec.toml"
    spec.write_text(SPEC.format(store='store = "sqlite:///from_spec.db"\n'))
    assert invoke("run", str(spec), "--no-progress", "--no-report")[0] == 0
    assert len(Store("sqlite:///from_spec.db").query()) == 1
    monkeypatch.setenv("INTERPLAB_STORE", "sqlite:///from_env.db")
    assert invoke("run", str(spec), "--no-progress", "--no-report")[0] == 0
    assert len(Store("sqlite:///from_env.db").query()) == 1
    code, _, err = invoke("run", str(spec), "--store", "", "--no-progress", "--no-report")
    assert code == 2 and "--store is empty" in " ".join(err.split())
