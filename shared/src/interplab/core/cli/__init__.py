"""The ``interplab`` command line (typer + rich). Heavy imports happen inside commands.

Every user error (:class:`InterplabError`) is printed as one paragraph without a traceback and
exits with code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from interplab.core.cli._common import console, err_console
from interplab.core.errors import InterplabError

__all__ = ["app", "console", "main"]
# ``console``: where commands print their output, packages' commands included. Off a terminal it
# prints tables at their natural width instead of cutting them to 80 columns.


class _Group(TyperGroup):
    """Turns :class:`InterplabError` into a message and exit code 2, for every subcommand."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except InterplabError as error:
            err_console.print(f"[bold red]error:[/] {_escape(str(error))}", soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted[/]: unfinished runs are stored as 'interrupted'."
            )
            raise typer.Exit(130) from None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _typer(help: str) -> typer.Typer:
    return typer.Typer(
        cls=_Group,
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )


app = _typer(
    "interplab: layer robustness, MIPS program synthesis and segmentation label quality, in one "
    "store. Start with `interplab run experiments/quickstart.toml`."
)
runs_app = _typer("List, show, compare and delete stored records.")
export_app = _typer("Export records to JSON Lines, Parquet or MLflow.")
cache_app = _typer("Inspect or clear the content-addressed cache.")
app.add_typer(runs_app, name="runs")
app.add_typer(export_app, name="export")
app.add_typer(cache_app, name="cache")

from interplab.core.cli import _commands, _records  # noqa: E402  (registers the commands)

_ = (_commands, _records)

CLI_ENTRY_POINT_GROUP = "interplab.cli"
"""Packages add command groups here: ``seglabels = "interplab.seglabels.cli:app"`` (a Typer app).
Their modules must import only typer at the top, so ``interplab --help`` stays fast."""


def _add_package_commands() -> None:
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=CLI_ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            sub = ep.load()
        except Exception as error:  # a broken plugin must not break the whole CLI
            err_console.print(f"[yellow]warning:[/] cannot load commands {ep.name!r}: {error}")
            continue
        sub.info.cls = _Group
        app.add_typer(sub, name=ep.name)


_add_package_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``interplab`` script."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="interplab", standalone_mode=True)
    except KeyboardInterrupt:  # raised outside a command (e.g. while importing)
        sys.exit(130)
