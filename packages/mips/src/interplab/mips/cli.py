"""``interplab mips benchmark``: the 62-task benchmark from the shell, through the core runner.

Only typer is imported here; the pipeline loads inside the command (in the worker processes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from interplab.core.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(
    help="Program synthesis from trained RNNs (MIPS, Michaud et al. 2024).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.command()
def benchmark(
    tasks: Annotated[str, typer.Option(help="'all' or comma-separated task names.")] = "all",
    workers: Annotated[int, typer.Option(help="Tasks run in parallel (processes).")] = 2,
    runner: Annotated[str, typer.Option(help="process | local | ray.")] = "process",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (ray runner).")] = None,
    budget: Annotated[float, typer.Option(help="Seconds per task for search + extraction.")] = 120,
    n_train: Annotated[int, typer.Option(help="Training sequences per task.")] = 18_000,
    seed: Annotated[int, typer.Option(help="Seed of data, search and training.")] = 0,
    store: Annotated[
        str | None, typer.Option(help="Store URL (default: $INTERPLAB_STORE).")
    ] = None,
    table: Annotated[
        Path | None, typer.Option(help="Also write the table as Markdown here.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rerun tasks the store already has.")] = False,
    simplify: Annotated[
        str | None,
        typer.Option(
            help="Simplifier chain, comma-separated, replacing the default "
            "(whiten,jordan,toeplitz,debias,quantize); e.g. add l1 in front."
        ),
    ] = None,
) -> None:
    """Synthesize and verify a program per task; print the table next to the paper's columns."""
    from interplab.core.cache import Cache
    from interplab.core.cli import console
    from interplab.core.paths import default_store_url
    from interplab.core.runners import run_spec
    from interplab.mips.benchmark import benchmark_spec, benchmark_table, table_markdown

    if table is not None:  # fail now, not after the benchmark has run
        try:
            table.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            message = f"--table {str(table)!r}: cannot create its folder ({error})."
            raise ConfigError(message) from error
    steps = None if simplify is None else [s.strip() for s in simplify.split(",") if s.strip()]
    spec = benchmark_spec(
        tasks, time_budget_s=budget, n_train=n_train, seed=seed, simplify_steps=steps
    )
    store_url = store or os.environ.get("INTERPLAB_STORE") or default_store_url()
    summary = run_spec(
        spec, store_url=store_url, cache_dir=Cache().root, origin="interplab mips benchmark",
        runner=runner, workers=workers, address=address, force=force,
    )  # fmt: skip
    frame = benchmark_table(summary.records())
    console.print(_rich_table(frame))
    markdown = table_markdown(frame)
    console.print(markdown.rsplit("\n", 1)[-1].replace("**", ""))
    skipped = summary.count("skipped")
    if skipped:
        console.print(f"{skipped} tasks were already in the store and skipped (--force reruns).")
    if table is not None:
        table.write_text(markdown + "\n", encoding="utf-8")
        console.print(f"table: {table}")
    if summary.count("failed"):
        raise typer.Exit(1)


@app.command()
def tasks() -> None:
    """List the 62 benchmark tasks: name, input, length, rule."""
    from rich.table import Table

    from interplab.core.cli import console
    from interplab.mips.tasks import get_task, list_tasks

    table = Table(title="MIPS tasks (Michaud et al. 2024, Table 1)", title_justify="left")
    for column in ("#", "name", "input", "length", "rule"):
        table.add_column(column)
    for name in list_tasks():
        spec = get_task(name).spec
        values = f"{spec.input_element_type} ({spec.input_min}..{spec.input_max})"
        table.add_row(str(spec.index), spec.name, values, str(spec.seq_len), spec.rule_text)
    console.print(table)


def _rich_table(frame: Any) -> Any:
    from rich.table import Table

    from interplab.mips.benchmark import text_or_dash

    def mark(value: Any) -> str:
        if value is None or value != value:
            return "–"
        return "[green]✔[/]" if value else "[red]✘[/]"

    table = Table(title="MIPS benchmark", title_justify="left")
    for column in ("#", "task", "solved", "test", "exhaustive", "2× length", "n", "stage", "s"):
        table.add_column(column)
    table.add_column("paper MIPS")
    table.add_column("GPT-4")
    for r in frame.itertuples():
        table.add_row(
            str(r.index), r.task, mark(r.solved), mark(r.exact_test), mark(r.exact_exhaustive),
            mark(r.exact_2x), "–" if r.hidden_dim != r.hidden_dim else f"{r.hidden_dim:.0f}",
            text_or_dash(r.stage), f"{r.seconds or 0:.0f}", mark(r.paper_mips), mark(r.paper_gpt4),
        )  # fmt: skip
    return table
