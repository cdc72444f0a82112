"""``interplab mips benchmark`` and experiments/mips-benchmark.toml: one experiment, one table."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from interplab.core.cli import app
from interplab.core.specs import load_spec, plan_tasks
from interplab.core.store import Store
from interplab.mips.benchmark import benchmark_spec, benchmark_table, table_markdown
from interplab.mips.cli import _rich_table
from interplab.mips.tasks import get_task, list_tasks

ROOT = Path(__file__).resolve().parents[3]


def test_spec_file_and_command_plan_the_same_62_runs() -> None:
    from_file = plan_tasks(load_spec(ROOT / "experiments" / "mips-benchmark.toml"))
    from_command = plan_tasks(benchmark_spec())
    assert [t.run_id for t in from_file] == [t.run_id for t in from_command]
    assert [t.config["task"] for t in from_file] == list(list_tasks())


def test_unknown_task_in_the_command_is_a_clear_error(home: Path) -> None:
    result = CliRunner().invoke(app, ["mips", "benchmark", "--tasks", "Sum_Al"])
    assert result.exit_code == 2
    assert "Sum_All" in result.output
    assert result.output.startswith("error: ")  # the core CLI's user-error line, like elsewhere


@pytest.mark.timeout(300)
def test_a_misspelled_task_in_a_spec_fails_before_anything_runs(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "typo.toml"
    spec.write_text('name = "typo"\n[[runs]]\nanalysis = "mips.synthesize"\n'
                    'config = { task = "Prev1,Sum_Lastt2" }\n')  # fmt: skip
    result = CliRunner().invoke(app, ["run", str(spec), "--no-report"])
    assert result.exit_code == 2
    assert "field 'config.task'" in result.output and "Did you mean 'Sum_Last2'" in result.output
    assert Store().query() == []  # no failed record left behind


def test_a_table_path_that_cannot_be_written_fails_before_the_benchmark(
    home: Path, tmp_path: Path
) -> None:
    (tmp_path / "a_file").write_text("")
    args = ["mips", "benchmark", "--tasks", "Prev1", "--table", str(tmp_path / "a_file" / "t.md")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "cannot create its folder" in " ".join(result.output.split())
    assert Store().query() == []


def test_tasks_command_lists_all_62_with_their_rules() -> None:
    result = CliRunner().invoke(app, ["mips", "tasks"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name in list_tasks():
        assert f" {name} " in result.output
    assert "c_(t+1) = floor(s_t / 2)" in result.output


def test_tasks_table_is_not_cut_when_piped() -> None:
    """Off a terminal (CliRunner's output is not one) every rule is printed whole, on one line."""
    result = CliRunner().invoke(app, ["mips", "tasks"], env={"COLUMNS": None})
    assert result.exit_code == 0, result.output
    rules = [get_task(name).spec.rule_text for name in list_tasks()]
    assert max(map(len, rules)) > 80
    lines = result.output.splitlines()
    assert all(any(rule in line for line in lines) for rule in rules)
    assert "…" not in result.output


def test_command_runs_tasks_through_the_runner_and_prints_the_paper_columns(
    home: Path, tmp_path: Path
) -> None:
    table = tmp_path / "table.md"
    args = ["mips", "benchmark", "--tasks", "Prev1,Bitwise_Not", "--runner", "local"]
    result = CliRunner().invoke(app, [*args, "--budget", "60", "--table", str(table)])
    assert result.exit_code == 0, result.output
    records = Store(f"sqlite:///{home / 'store.db'}").query(experiment="mips-benchmark")
    assert sorted(r.params["task"] for r in records) == ["Bitwise_Not", "Prev1"]
    frame = benchmark_table(records)
    assert list(frame.task) == ["Bitwise_Not", "Prev1"]  # paper order: index 5 before 25
    assert frame.solved.all() and frame.exact_test.all()
    for row in frame.itertuples():
        spec = get_task(row.task).spec
        assert (row.paper_mips, row.paper_gpt4) == (spec.mips_solved, spec.gpt4_solved)
    markdown = table.read_text()
    assert markdown == table_markdown(frame) + "\n"
    assert "**Solved 2 of 2**" in markdown and "| Prev1 |" in markdown
    rerun = CliRunner().invoke(app, [*args, "--budget", "60"])
    assert rerun.exit_code == 0 and "skipped" in rerun.output  # already stored: not run again


def test_unknown_simplifier_in_the_command_is_a_clear_error(home: Path) -> None:
    args = ["mips", "benchmark", "--tasks", "Prev1", "--simplify", "whiten,jnf"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "'jnf'" in result.output and "toeplitz" in result.output


def test_simplify_option_changes_the_runs_only_when_given() -> None:
    default = plan_tasks(benchmark_spec("Prev1"))
    with_l1 = plan_tasks(benchmark_spec("Prev1", simplify_steps=["l1", "whiten", "quantize"]))
    assert default[0].config.get("simplify_steps") is None
    assert with_l1[0].config["simplify_steps"] == ["l1", "whiten", "quantize"]
    assert with_l1[0].run_id != default[0].run_id  # stored default results are not reused


@pytest.mark.timeout(300)
def test_command_with_an_l1_chain_solves_and_records_the_chain(home: Path) -> None:
    steps = "l1,whiten,jordan,toeplitz,debias,quantize"
    args = ["mips", "benchmark", "--tasks", "Prev1", "--runner", "local", "--budget", "60"]
    result = CliRunner().invoke(app, [*args, "--simplify", steps])
    assert result.exit_code == 0, result.output
    (record,) = Store(f"sqlite:///{home / 'store.db'}").query(experiment="mips-benchmark")
    assert benchmark_table([record]).solved.all()
    assert record.params["simplify_steps"] == steps.split(",")


def test_an_unsolved_task_shows_a_dash_for_its_stage_not_nan() -> None:
    import pandas as pd
    from rich.console import Console

    row = {
        "index": 1, "task": "Prev1", "solved": True, "exact_test": True, "exact_exhaustive": None,
        "exact_2x": True, "hidden_dim": 2.0, "architecture": "n=2 f=linear g=linear",
        "stage": "lattice:LR", "program_lines": 14.0, "seconds": 1.0, "paper_mips": True,
        "paper_gpt4": True,
    }  # fmt: skip
    unsolved = {**row, "index": 2, "task": "Max_Seen", "solved": False, "stage": None}
    frame = pd.DataFrame([row, unsolved])  # as benchmark_table builds it: None becomes NaN
    assert frame.stage.isna().iloc[1]
    markdown = table_markdown(frame)
    assert "| n=2 f=linear g=linear | – | 14 |" in markdown and "nan" not in markdown
    console = Console(width=250, record=True)
    console.print(_rich_table(frame))
    text = console.export_text()
    assert "nan" not in text and "lattice:LR" in text
