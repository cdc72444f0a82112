"""Every spec in experiments/ plans: its analyses are installed and every config validates."""

from pathlib import Path

import pytest

from interplab.core.specs import load_spec, plan_tasks

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "experiments").glob("*.toml"))


def test_the_expected_specs_exist() -> None:
    names = {p.stem for p in SPECS}
    assert {
        "quickstart",
        "robustness-zoo",
        "robustness-paper",
        "mips-benchmark",
        "seglabels-synthetic",
        "robustness-of-segmenters",
        "stages-in-algorithmic-transformers",
        "label-quality-of-next-tokens",
    } <= names


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_spec_plans(path: Path) -> None:
    tasks = plan_tasks(load_spec(path), origin=str(path))
    assert tasks, f"{path.name} plans no task"
    assert len({t.run_id for t in tasks}) == len(tasks)


def test_the_quickstart_runs_every_package() -> None:
    tasks = plan_tasks(load_spec(ROOT / "experiments/quickstart.toml"))
    packages = {t.package for t in tasks}
    assert {"core", "robustness", "mips", "seglabels"} <= packages
    analyses = {t.analysis for t in tasks}
    assert {
        "robustness.layer-sweep",
        "robustness.attention-locality",
        "robustness.logit-lens",
        "robustness.neurons",
        "robustness.cka",
    } <= analyses
    mips_tasks = [t.config["task"] for t in tasks if t.analysis == "mips.synthesize"]
    assert len(mips_tasks) >= 4
