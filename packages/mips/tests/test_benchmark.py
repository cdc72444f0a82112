"""``interplab mips benchmark`` and experiments/mips-benchmark.toml: one experiment, one table."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from interplab.core.cli import app
from interplab.core.specs import load_spec, plan_tasks
from interplab.core.store import Store
from interplab.mips.benchmark import benchmark_spec, benchmark_table, table_markdown
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


@pytest.mark.timeout(300)
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
