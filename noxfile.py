"""Sessions: one test session per package (each in its own venv holding only that package and
its declared dependencies), end-to-end tests, Ray, lint, typecheck, bench and the quickstart.

`uv run nox` runs the defaults (`tests`, `lint`, `typecheck`); `nox -s bench` the benchmarks.
Every venv is filled by `uv sync --locked` from uv.lock, so versions match the lock exactly and a
stale lock fails fast.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_missing_interpreters = True

PACKAGES = {
    "core": ("interplab-core", "shared"),
    "robustness": ("interplab-robustness", "packages/robustness"),
    "mips": ("interplab-mips", "packages/mips"),
    "seglabels": ("interplab-seglabels", "packages/seglabels"),
    "compose": ("interplab-compose", "experiments/compose"),
}
TEST_SESSIONS = [f"test-{name}" for name in PACKAGES] + ["test-e2e", "test-extras"]
PYTEST = ("pytest", "-q", "-p", "no:cacheprovider")


def sync(session: nox.Session, *args: str) -> None:
    """Install from uv.lock into this session's venv (nothing else is installed)."""
    session.run_install(
        "uv", "sync", "--locked", "--no-default-groups", *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )  # fmt: skip


def run_pytest(session: nox.Session, *args: str) -> None:
    session.run(*PYTEST, *args, *session.posargs, env={"MPLBACKEND": "Agg"}, success_codes=[0])


for _name, (_dist, _folder) in PACKAGES.items():

    def _test(session: nox.Session, dist: str = _dist, folder: str = _folder) -> None:
        sync(session, "--package", dist, "--group", "test")
        run_pytest(session, f"{folder}/tests", "-m", "not extras")

    _test.__doc__ = f"Tests of {_dist} in a venv with only its declared dependencies."
    nox.session(name=f"test-{_name}", python="3.11")(_test)


@nox.session(name="test-e2e", python="3.11")
def test_e2e(session: nox.Session) -> None:
    """Cross-package and end-to-end tests (CLI, quickstart, report) with every package installed."""
    sync(session, "--all-packages", "--group", "dev")
    run_pytest(session, "tests", "experiments/plugins/example-analysis/tests")


@nox.session(name="test-extras", python="3.11")
def test_extras(session: nox.Session) -> None:
    """The optional extras: the Ray runner on a local Ray, the MLflow export."""
    sync(
        session,
        "--package",
        "interplab-core",
        "--group",
        "test",
        "--extra",
        "ray",
        "--extra",
        "mlflow",
    )
    run_pytest(session, "shared/tests", "-m", "extras")


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """All test sessions (the default)."""
    for name in TEST_SESSIONS:
        session.notify(name)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    sync(session, "--only-group", "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the core."""
    sync(session, "--package", "interplab-core", "--group", "typecheck")
    session.run("mypy", "-p", "interplab.core")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks (not run by default); ratios against the alternative, in the same process."""
    sync(session, "--all-packages", "--group", "dev")
    store = os.environ.get("INTERPLAB_BENCH_STORE")
    extra = ["--record-store", store] if store else []
    session.run("python", "shared/benchmarks/bench_store.py", *extra)
    session.run("python", "packages/seglabels/benchmarks/bench_scores.py", *session.posargs)
    sweep = "packages/robustness/benchmarks/bench_sweep.py"
    session.run("python", sweep, "--threads", "1")  # the zoo's shape: the head costs ~4 blocks
    session.run(  # a wider model, where the blocks dominate as in the paper's models
        "python", sweep, "--threads", "1", "--layers", "12", "--d-model", "512", "--docs", "8",
        "--reps", "3",
    )  # fmt: skip
    session.run(  # the depth of gpt2-medium and pythia-410m: ceiling 1.96x
        "python", sweep, "--threads", "1", "--layers", "24", "--d-model", "512", "--docs", "4",
        "--batch-size", "4", "--reps", "3",
    )  # fmt: skip


@nox.session(python="3.11")
def quickstart(session: nox.Session) -> None:
    """The README's main job, in a fresh venv."""
    sync(session, "--all-packages")
    session.run("interplab", "run", "experiments/quickstart.toml", *session.posargs)
