"""The README's first command, as a new user runs it (fresh INTERPLAB_HOME)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from interplab.core.specs import load_spec, plan_tasks
from interplab.core.store import Store

ROOT = Path(__file__).resolve().parents[1]


def run_quickstart(home: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    exe = Path(sys.executable).with_name("interplab")
    assert exe.is_file(), "the interplab script is installed with interplab-core"
    start = time.perf_counter()
    result = subprocess.run(
        [exe, "run", "experiments/quickstart.toml"],
        cwd=ROOT, env={**os.environ, "INTERPLAB_HOME": str(home), "COLUMNS": "160"},
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    return result, time.perf_counter() - start


def test_quickstart_writes_records_and_report_then_skips(home: Path) -> None:
    first, first_s = run_quickstart(home)
    assert first.returncode == 0, first.stdout + first.stderr
    tasks = plan_tasks(load_spec(ROOT / "experiments/quickstart.toml"))
    store = Store(f"sqlite:///{home}/store.db")
    assert store.completed_run_ids(t.run_id for t in tasks) == {t.run_id for t in tasks}
    assert store.count(status="completed") >= len(tasks)
    report = home / "report" / "report.html"
    assert report.is_file() and f"report: {report}" in first.stdout
    assert "data:image/png;base64," in report.read_text()

    second, second_s = run_quickstart(home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("skipped") == len(tasks)
    print(f"quickstart: first run {first_s:.1f} s, second (cached) run {second_s:.1f} s")
