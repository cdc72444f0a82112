"""The README's first command, as a new user runs it (fresh INTERPLAB_HOME)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
        capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    return result, time.perf_counter() - start


@pytest.mark.timeout(2400)
def test_quickstart_writes_records_and_report_then_skips(home: Path) -> None:
    first, first_s = run_quickstart(home)
    assert first.returncode == 0, first.stdout + first.stderr
    tasks = plan_tasks(load_spec(ROOT / "experiments/quickstart.toml"))
    store = Store(f"sqlite:///{home}/store.db")
    assert store.completed_run_ids(t.run_id for t in tasks) == {t.run_id for t in tasks}
    assert store.count(status="completed") >= len(tasks)
    report = home / "report" / "report.html"
    assert report.is_file() and f"report: {report}" in first.stdout
    html = report.read_text()
    assert "data:image/png;base64," in html
    for analysis in ("robustness.layer-sweep", "robustness.logit-lens", "mips.synthesize",
                     "seglabels.benchmark"):  # fmt: skip
        assert analysis in first.stdout, f"the summary table has a line for {analysis}"
        assert 'id="a-' + analysis.replace(".", "-") + '"' in html, f"the report shows {analysis}"
    assert "def program(seq)" in first.stdout, "the MIPS programs are printed"
    assert "def program(seq)" in html, "and shown in the report"

    second, second_s = run_quickstart(home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("skipped") == len(tasks)
    print(f"quickstart: first run {first_s:.1f} s, second (cached) run {second_s:.1f} s")
