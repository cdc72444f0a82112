"""Third-party plugins, installed as real distributions: broken ones and the plugin's version.

A temporary ``mylab-coin 0.0.1`` dist-info on ``sys.path`` registers one good analysis, one whose
module does not exist and one whose class ``name`` differs from its entry-point name.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interplab.core.cli import app
from interplab.core.cli._commands import _analyses_by_package
from interplab.core.environment import capture_environment
from interplab.core.errors import RegistryError, SpecError
from interplab.core.registry import get_analysis, load_analyses, registered_analyses
from interplab.core.runners import run_spec
from interplab.core.specs import parse_spec
from interplab.core.store import Store

MODULE = '''
from interplab.core.analysis import Analysis
from interplab.core.records import MetricSpec


class Coin(Analysis):
    """Flips no coin at all."""

    name = "mylab.coin"
    metrics = {"mylab.heads": MetricSpec()}

    def run(self, config, ctx):
        yield ctx.record({"mylab.heads": 0.5}, key="only")


class Misnamed(Coin):
    """Says it is another analysis."""

    name = "mylab.other"
'''

ENTRY_POINTS = """
[interplab.analyses]
mylab.coin = mylab_coin:Coin
mylab.broken = mylab_no_such_module_xyz:Thing
mylab.misnamed = mylab_coin:Misnamed
"""

SPEC = """
name = "{name}"
[[runs]]
analysis = "{analysis}"
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    info = site / "mylab_coin-0.0.1.dist-info"
    info.mkdir(parents=True)
    (site / "mylab_coin.py").write_text(MODULE)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab-coin\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("INTERPLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INTERPLAB_STORE", raising=False)
    monkeypatch.delenv("INTERPLAB_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    registered_analyses.cache_clear()
    yield tmp_path
    registered_analyses.cache_clear()
    sys.modules.pop("mylab_coin", None)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


# ------------------------------------------------------------------ 1. broken plugins


def test_load_analyses_separates_the_broken_ones(plugin: Path) -> None:
    loaded, broken = load_analyses()
    assert "mylab.coin" in loaded and "core.selftest" in loaded
    assert {b.name for b in broken} == {"mylab.broken", "mylab.misnamed"}
    by_name = {b.name: b for b in broken}
    missing = by_name["mylab.broken"]
    assert missing.value == "mylab_no_such_module_xyz:Thing"
    assert missing.distribution == "mylab-coin 0.0.1"
    assert missing.error.startswith("ModuleNotFoundError: ")
    assert "\n" not in missing.error
    assert "its class says name='mylab.other'" in by_name["mylab.misnamed"].error


def test_analyses_lists_the_loadable_ones_then_the_broken_ones(plugin: Path) -> None:
    code, out, err = invoke("analyses")
    assert code == 0, out + err
    listed, _, broken = out.partition("broken plugins")
    assert "mylab.coin" in listed and "core.selftest" in listed and "mylab.broken" not in listed
    assert "mylab.broken" in broken and "mylab_no_such_module_xyz:Thing" in broken
    assert "ModuleNotFoundError" in broken and "mylab.misnamed" in broken


def test_analyses_json_stays_json_and_warns_on_stderr(plugin: Path) -> None:
    code, out, err = invoke("analyses", "--json")
    assert code == 0, out + err
    names = {row["name"] for row in json.loads(out)}
    assert {"mylab.coin", "core.selftest"} <= names
    assert not names & {"mylab.broken", "mylab.misnamed"}
    flat = " ".join(err.split())
    assert "warning: analysis 'mylab.broken' (mylab_no_such_module_xyz:Thing" in flat
    assert "ModuleNotFoundError" in flat and "'mylab.misnamed'" in flat


def test_doctor_loads_each_plugin_and_marks_the_broken_ones(plugin: Path) -> None:
    code, out, err = invoke("doctor")
    assert code == 0, out + err
    assert "mylab: broken (broken), coin, misnamed (broken)" in out
    assert "core: selftest" in out


def test_doctor_row_shows_broken_names_in_red() -> None:
    text = _analyses_by_package(["a.x", "a.y", "b.z"], {"a.y"})
    assert text == "a: x, [red]y (broken)[/]\nb: z"
    assert _analyses_by_package([]) == "none"


def test_a_spec_naming_a_broken_analysis_fails_clearly(plugin: Path) -> None:
    with pytest.raises(RegistryError, match=r"importing it failed: ModuleNotFoundError"):
        get_analysis("mylab.broken")
    spec = parse_spec(SPEC.format(name="b", analysis="mylab.broken"))
    with pytest.raises(SpecError, match=r"'mylab\.broken' is registered as .*ModuleNotFoundError"):
        run_spec(spec, store_url=f"sqlite:///{plugin}/s.db", cache_dir=plugin / "c")


def test_a_spec_not_naming_it_runs(plugin: Path) -> None:
    url = f"sqlite:///{plugin}/store.db"
    spec = parse_spec(SPEC.format(name="ok", analysis="mylab.coin"))
    summary = run_spec(spec, store_url=url, cache_dir=plugin / "cache", show_progress=False)
    assert [o.status for o in summary.outcomes] == ["completed"]


# ------------------------------------------------------------------ 2. the plugin's version


def test_records_carry_the_version_of_the_plugin_that_made_them(plugin: Path) -> None:
    url = f"sqlite:///{plugin}/store.db"
    for analysis in ("mylab.coin", "core.selftest"):
        spec = parse_spec(SPEC.format(name=analysis, analysis=analysis))
        run_spec(spec, store_url=url, cache_dir=plugin / "cache", show_progress=False)
    store = Store(url)
    (coin,) = store.query(analysis="mylab.coin")
    assert coin.env.packages["mylab-coin"] == "0.0.1"
    assert "interplab-core" in coin.env.packages
    (selftest,) = store.query(analysis="core.selftest")
    assert "mylab-coin" not in selftest.env.packages  # only the producing plugin's


def test_capture_environment_adds_an_untracked_plugin_distribution_once(plugin: Path) -> None:
    packages = capture_environment(analysis="mylab.coin").packages
    assert packages["mylab-coin"] == "0.0.1"
    core = capture_environment(analysis="core.selftest").packages
    assert core == capture_environment().packages  # interplab-core is tracked already
    assert capture_environment(analysis="nobody.registers-this").packages == core
