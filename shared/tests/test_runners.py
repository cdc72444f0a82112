import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from interplab.core.errors import ConfigError
from interplab.core.runners import run_spec
from interplab.core.runners._backends import BACKENDS
from interplab.core.specs import parse_spec, plan_tasks
from interplab.core.store import Store

SPEC = """
name = "runner-test"
[[runs]]
analysis = "core.selftest"
[runs.sweep]
n_samples = [500, 2000]
seed = [0, 1]
[[runs]]
analysis = "core.selftest"
name = "boom"
config = {fail_with = "error", n_samples = 10}
"""


@pytest.fixture
def paths(tmp_path: Path) -> tuple[str, Path]:
    return f"sqlite:///{tmp_path}/store.db", tmp_path / "cache"


def expected_pi(n: int, seed: int) -> float:
    points = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed)).numpy()
    return 4.0 * float(np.mean((points**2).sum(axis=1) <= 1.0))


def test_failed_run_is_stored_and_others_complete(paths: tuple[str, Path]) -> None:
    url, cache = paths
    summary = run_spec(parse_spec(SPEC), store_url=url, cache_dir=cache, show_progress=False)
    assert [o.status for o in summary.outcomes] == ["completed"] * 4 + ["failed"]
    assert not summary.ok
    store = Store(url)
    failed = store.query(status="failed")
    assert len(failed) == 1
    assert "asked to fail" in (failed[0].error or "")
    assert "RuntimeError" in (failed[0].error or "")
    done = store.query(status="completed")
    assert len(done) == 4
    # the failed run's record says where it ran, as a completed one does
    env = failed[0].env
    assert env.seed == plan_tasks(parse_spec(SPEC))[-1].seed
    assert env.python and env.platform and env.hostname and env.device
    assert env.packages == done[0].env.packages and "interplab-core" in env.packages
    for record in done:
        n, seed = record.params["n_samples"], record.env.seed
        assert isinstance(n, int) and seed is not None
        assert record.metrics["core.pi_estimate"].value == pytest.approx(expected_pi(n, seed))
        assert record.metrics["core.pi_abs_error"].value == pytest.approx(
            abs(expected_pi(n, seed) - math.pi)
        )
        assert record.experiment == "runner-test"
        assert "points" in record.artifacts


def test_rerun_skips_completed_and_retries_failed(paths: tuple[str, Path]) -> None:
    url, cache = paths
    spec = parse_spec(SPEC)
    run_spec(spec, store_url=url, cache_dir=cache, show_progress=False)
    first = {r.id: r.created_at for r in Store(url).query(status="completed")}
    again = run_spec(spec, store_url=url, cache_dir=cache, show_progress=False)
    assert [o.status for o in again.outcomes] == ["skipped"] * 4 + ["failed"]
    assert {r.id: r.created_at for r in Store(url).query(status="completed")} == first
    assert again.outcomes[0].headline["core.n_samples"] == 500
    forced = run_spec(spec, store_url=url, cache_dir=cache, force=True, show_progress=False)
    assert [o.status for o in forced.outcomes] == ["completed"] * 4 + ["failed"]
    store = Store(url)
    assert store.count() == 5, "forced reruns replace records instead of adding"
    newer = {r.id: r.created_at for r in store.query(status="completed")}
    assert newer.keys() == first.keys()
    assert all(newer[i] > first[i] for i in first)


def test_a_forced_rerun_that_fails_keeps_the_stored_results(
    paths: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from interplab.core.registry import get_analysis

    url, cache = paths
    spec = parse_spec('name = "keep"\n[[runs]]\nanalysis = "core.selftest"\n'
                      "config = {n_samples = 500}\n")  # fmt: skip
    run_spec(spec, store_url=url, cache_dir=cache, show_progress=False)
    before = {r.id: r.metrics for r in Store(url).query(status="completed")}

    def broken(self: Any, config: Any, ctx: Any) -> Any:
        raise RuntimeError("the new code is broken")
        yield

    monkeypatch.setattr(get_analysis("core.selftest"), "run", broken)
    forced = run_spec(spec, store_url=url, cache_dir=cache, force=True, show_progress=False)
    assert [o.status for o in forced.outcomes] == ["failed"]
    store = Store(url)
    assert {r.id: r.metrics for r in store.query(status="completed")} == before
    (marker,) = store.query(status="failed")
    assert marker.id == forced.outcomes[0].run_id and "the new code is broken" in marker.error
    monkeypatch.undo()
    retried = run_spec(spec, store_url=url, cache_dir=cache, show_progress=False)
    assert [o.status for o in retried.outcomes] == ["completed"], "a failed marker is retried"
    assert store.query(status="failed") == [] and store.count() == len(before)


def test_process_runner_matches_local(tmp_path: Path) -> None:
    spec = parse_spec(SPEC)
    local_url, pool_url = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    run_spec(spec, store_url=local_url, cache_dir=tmp_path / "c1", show_progress=False)
    summary = run_spec(
        spec, store_url=pool_url, cache_dir=tmp_path / "c2", runner="process", workers=2,
        show_progress=False,
    )  # fmt: skip
    assert sorted(o.status for o in summary.outcomes) == ["completed"] * 4 + ["failed"]

    def values(url: str) -> dict[str, float]:
        return {
            r.id: r.metrics["core.pi_estimate"].value for r in Store(url).query(status="completed")
        }

    assert values(local_url) == values(pool_url)
    assert len(values(pool_url)) == 4


def test_unknown_runner_is_a_config_error(paths: tuple[str, Path]) -> None:
    url, cache = paths
    with pytest.raises(ConfigError, match=r"runner='threads' is not known"):
        run_spec(parse_spec(SPEC), store_url=url, cache_dir=cache, runner="threads")


@pytest.mark.parametrize("runner", ["local", "process", "ray"])
def test_workers_below_one_is_a_config_error_before_anything_runs(
    paths: tuple[str, Path], runner: str
) -> None:
    url, cache = paths
    with pytest.raises(ConfigError, match=r"^workers=0 must be at least 1"):
        run_spec(
            parse_spec(SPEC), store_url=url, cache_dir=cache, runner=runner, workers=0,
            show_progress=False,
        )  # fmt: skip
    assert not Path(url.removeprefix("sqlite:///")).exists(), "nothing ran, no store was made"
    with pytest.raises(ConfigError, match=r"^workers=-1 must be at least 1"):
        BACKENDS[runner]([], url, cache, on_done=print, workers=-1)


SLOW_SPEC = """
name = "slow"
[[runs]]
analysis = "core.selftest"
name = "quick"
config = {n_samples = 100}
[[runs]]
analysis = "core.selftest"
name = "slow"
config = {n_samples = 100, n_chunks = 200, sleep_s = 0.25}
[[runs]]
analysis = "core.selftest"
name = "never-started"
config = {n_samples = 200}
"""


@pytest.mark.parametrize("runner", ["local", "process"])
def test_ctrl_c_marks_running_records_interrupted(tmp_path: Path, runner: str) -> None:
    spec = tmp_path / "slow.toml"
    spec.write_text(SLOW_SPEC)
    url = f"sqlite:///{tmp_path}/store.db"
    env = {**os.environ, "INTERPLAB_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    args = ["run", str(spec), "--store", url, "--runner", runner, "--workers", "1", "--no-report"]
    # Ctrl-C as in a terminal: a shell starts background jobs with SIGINT ignored, and Python
    # keeps an inherited SIG_IGN, so the child restores the default handler first.
    child = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from interplab.core.cli import main; main()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child, *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    store = Store(url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the slow run has started
        if store.count(status="running") and store.count(status="completed"):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"the slow run never started: {proc.communicate()[0]}")
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    statuses = {r.params["n_samples"]: r.status for r in store.query()}
    slow = store.query(status="interrupted")
    assert len(slow) == 1 and slow[0].params["sleep_s"] == 0.25
    assert slow[0].finished_at is not None
    assert slow[0].env.python and slow[0].env.seed == plan_tasks(parse_spec(SLOW_SPEC))[1].seed
    assert store.count(status="running") == 0, statuses
    assert store.count(status="completed") == 1
    plan = plan_tasks(parse_spec(SLOW_SPEC))
    assert store.completed_run_ids(t.run_id for t in plan) == {plan[0].run_id}


@pytest.mark.extras
def test_ray_runner_on_local_ray(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed (nox -s test-ray)")
    spec = parse_spec(SPEC)
    url = f"sqlite:///{tmp_path}/store.db"
    summary = run_spec(
        spec, store_url=url, cache_dir=tmp_path / "cache", runner="ray", workers=2,
        show_progress=False,
    )  # fmt: skip
    assert sorted(o.status for o in summary.outcomes) == ["completed"] * 4 + ["failed"]
    store = Store(url)
    for record in store.query(status="completed"):
        n, seed = record.params["n_samples"], record.env.seed
        assert isinstance(n, int) and seed is not None
        assert record.metrics["core.pi_estimate"].value == pytest.approx(expected_pi(n, seed))
    rerun = run_spec(
        spec, store_url=url, cache_dir=tmp_path / "cache", runner="ray", workers=2,
        show_progress=False,
    )  # fmt: skip
    assert [o.status for o in rerun.outcomes] == ["skipped"] * 4 + ["failed"]
    assert store.count() == 5


SCALE_OUT_SPEC = """
name = "scale-out"
[[runs]]
analysis = "core.selftest"
config = {n_chunks = 4}
[runs.sweep]
n_samples = [1000, 20000]
seed = [0, 1, 2, 3]
"""


@pytest.mark.extras
@pytest.mark.postgres
@pytest.mark.timeout(1200)
def test_ray_sweep_writes_to_postgresql_concurrently_nothing_lost_idempotent(
    postgres_url: str, tmp_path: Path
) -> None:
    """The scale-out recipe: Ray workers write their runs straight into one PostgreSQL store."""
    pytest.importorskip("ray", reason="the ray extra is not installed (nox -s test-extras)")
    spec = parse_spec(SCALE_OUT_SPEC)
    plan = plan_tasks(spec)
    kwargs: dict[str, Any] = {
        "store_url": postgres_url, "cache_dir": tmp_path / "cache", "runner": "ray",
        "workers": 4, "show_progress": False,
    }  # fmt: skip
    summary = run_spec(spec, **kwargs)
    assert [o.status for o in summary.outcomes] == ["completed"] * 8
    store = Store(postgres_url)
    assert store.completed_run_ids(t.run_id for t in plan) == {t.run_id for t in plan}
    records = store.query(experiment="scale-out")
    assert len(records) == 8 and store.count(status="running") == 0
    for record in records:
        n, seed = record.params["n_samples"], record.env.seed
        assert isinstance(n, int) and seed is not None
        assert record.metrics["core.pi_estimate"].value == pytest.approx(expected_pi(n, seed))
    rerun = run_spec(spec, **kwargs)
    assert [o.status for o in rerun.outcomes] == ["skipped"] * 8
    forced = run_spec(spec, **kwargs, force=True)
    assert [o.status for o in forced.outcomes] == ["completed"] * 8
    assert store.count(experiment="scale-out") == 8  # replaced, not duplicated


def test_run_time_leaves_out_loading_the_analysis(
    paths: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing a plugin (torch, ...) is paid once per process and is not the run's time."""
    import interplab.core.registry as registry

    real, loaded = registry.get_analysis, []

    def slow_import(name: str) -> Any:
        time.sleep(1.0)  # what a first import of torch and the plugin costs a worker
        loaded.append(time.perf_counter())
        return real(name)

    monkeypatch.setattr(registry, "get_analysis", slow_import)
    url, cache = paths
    spec = parse_spec('name = "t"\n[[runs]]\nanalysis = "core.selftest"\nconfig = {n_samples = 10}')
    summary = run_spec(spec, store_url=url, cache_dir=cache, show_progress=False)
    after_last_load = time.perf_counter() - loaded[-1]  # the run itself happens in here
    (outcome,) = summary.outcomes
    (record,) = Store(url).query(status="completed")
    assert outcome.status == "completed" and outcome.seconds < after_last_load
    assert record.duration_s is not None and record.duration_s < after_last_load
