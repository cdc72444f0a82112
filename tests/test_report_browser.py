"""The HTML report opened in a real headless Chromium: it renders, and hostile strings stay text.

CI installs Chromium from Debian's packages (``.ci/run``) and sets ``INTERPLAB_REQUIRE_BROWSER``,
so there the test fails instead of skipping when no browser is found.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from interplab.core.cli import app

HOSTILE_TAG = "<script>document.title='pwned'</script>"
HOSTILE_IMG = "<img src=x onerror=\"document.title='pwned'\">"
SPEC = f"""
name = "browser-check"
description = {json.dumps(HOSTILE_IMG)}
tags = [{json.dumps(HOSTILE_TAG)}]

[[runs]]
analysis = "core.selftest"
name = "pi"
config = {{ n_samples = 5000, n_chunks = 2 }}

[[runs]]
analysis = "example.random-walk"
tags = [{json.dumps(HOSTILE_IMG)}]
[runs.sweep]
n_steps = [10, 100]
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := shutil.which(name):
            return found
    message = "no Chromium on PATH (Debian: apt-get install chromium)"
    if os.environ.get("INTERPLAB_REQUIRE_BROWSER"):
        pytest.fail(message + "; CI requires the browser test to run")
    pytest.skip(message)


def headless(browser: str, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--virtual-time-budget=5000",
    ]  # fmt: skip
    return subprocess.run(
        [browser, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def report(home: Path, tmp_path: Path) -> Path:
    spec = tmp_path / "browser-check.toml"
    spec.write_text(SPEC, encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(spec)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    path = home / "report" / "report.html"
    assert path.is_file()
    return path


def test_report_renders_in_chromium_with_hostile_strings_as_text(
    report: Path, tmp_path: Path
) -> None:
    browser = chromium()
    dom = headless(browser, "--dump-dom", report.as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "browser-check" in html and "core.selftest" in html and "example.random-walk" in html
    assert html.count("data:image/png;base64,") >= 3  # the figures are embedded
    assert "pwned" not in html.split("</title>")[0]  # no script ran (it would set the title)
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in html  # shown as text
    assert "&lt;img src=x onerror=" in html
    assert '<img src="x"' not in html  # the hostile tag never became an element

    shot = tmp_path / "report.png"
    result = headless(
        browser, f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri(),
        profile=tmp_path / "profile2",
    )  # fmt: skip
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (2000, 1280)
    assert pixels.std() > 10  # text, tables and figures drawn, not a blank page
