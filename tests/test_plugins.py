"""Plugins: every registered analysis keeps the static contract; a third-party one runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from interplab.core.cli import app
from interplab.core.registry import analysis_names, get_analysis
from interplab.core.selftest import SelfTest
from interplab.core.store import Store
from interplab.core.testing import check_analysis, check_analysis_class

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", analysis_names())
def test_every_registered_analysis_keeps_the_static_contract(name: str) -> None:
    check_analysis_class(get_analysis(name))


def test_core_selftest_keeps_the_whole_contract(tmp_path: Path) -> None:
    check_analysis(SelfTest, {"n_samples": 2000, "n_chunks": 2}, workdir=tmp_path)


def test_example_plugin_is_discovered_and_runs_from_a_spec(home: Path) -> None:
    listed = CliRunner().invoke(app, ["analyses"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "example.random-walk" in listed.output
    spec = ROOT / "experiments" / "plugins" / "example-analysis" / "example.toml"
    result = CliRunner().invoke(app, ["run", str(spec), "--no-report"])
    assert result.exit_code == 0, result.output
    records = Store(f"sqlite:///{home / 'store.db'}").query(analysis="example.random-walk")
    assert sorted(r.params["n_steps"] for r in records) == [10, 100, 1000]
    for r in records:
        assert r.package == "example" and r.artifacts["walks"].media_type == "image/png"
        assert r.metrics["example.rel_error"].value < 0.25


def test_a_nan_metric_meaning_undefined_keeps_the_contract(tmp_path: Path) -> None:
    class Undefined(SelfTest):
        """Reports one undefined metric (NaN) next to a defined one."""

        name = "core.undefined"

        def run(self, config, ctx):  # type: ignore[no-untyped-def]
            yield ctx.record({"core.pi_estimate": 3.0, "core.pi_abs_error": float("nan")})

    records = check_analysis(Undefined, {"n_samples": 10}, workdir=tmp_path)
    assert str(records[0].metrics["core.pi_abs_error"].value) == "nan"
