"""The `nox -s bench` scripts still run: each at a tiny size, checking the lines it must print.

The sizes are far too small for the timings to mean anything; what is checked is that every
benchmark runs end to end and still reports agreement with its alternative (bit-identical sweep
metrics, cleanlab-identical masks and scores, stored records read back).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bench(script: str, *args: str) -> str:
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        capture_output=True, text=True, env=env, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(600)
def test_sweep_benchmark_reports_a_speed_up_with_identical_numbers() -> None:
    out = run_bench(
        "packages/robustness/benchmarks/bench_sweep.py", "--layers", "3", "--d-model", "32",
        "--vocab", "64", "--seq-len", "16", "--docs", "4", "--batch-size", "2", "--reps", "1",
        "--threads", "1",
    )  # fmt: skip
    assert "speed-up:" in out
    assert "block-call ratio (ceiling) 1.500x" in out  # (2n² - n) / (n² + 1) calls for n = 3
    assert "(bit-identical: True)" in out


@pytest.mark.timeout(600)
def test_score_benchmark_agrees_with_cleanlab() -> None:
    out = run_bench(
        "packages/seglabels/benchmarks/bench_scores.py", "--n", "3", "--reps", "1",
        "--skip-memory",
    )  # fmt: skip
    assert "max rel diff" in out
    assert "identical" in out
    assert "DIFFERENT" not in out


@pytest.mark.timeout(600)
def test_store_benchmark_runs_and_saves_its_measurements(tmp_path: Path) -> None:
    from interplab.core.store import Store

    url = f"sqlite:///{tmp_path}/bench.db"
    out = run_bench(
        "shared/benchmarks/bench_store.py", "--n", "200", "--metrics", "3", "--single-n", "20",
        "--repeat", "1", "--record-store", url,
    )  # fmt: skip
    assert "not comparable: this run is 200 × 3" in out  # the target line says what was measured
    assert "saved as record bench-store-" in out
    assert Store(url).count() == 1
