"""``interplab run``, ``analyses``, ``report``, ``cache`` and ``doctor``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from interplab.core.cli import app, cache_app
from interplab.core.cli._common import (
    AnalysisName,
    CacheOption,
    Experiment,
    Package,
    StoreOption,
    console,
    err_console,
    filters,
    missing_store,
    open_cache,
    open_store,
    plural,
    store_url,
)
from interplab.core.errors import ConfigError
from interplab.core.records import format_value

if TYPE_CHECKING:
    from interplab.core.registry import BrokenAnalysis

_RUNNERS = ("local", "process", "ray")


@app.command()
def run(
    spec: Annotated[
        Path, typer.Argument(help="Experiment spec (TOML), e.g. experiments/quickstart.toml.")
    ],
    runner: Annotated[str, typer.Option(help="local | process | ray.")] = "local",
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (process/ray runners).")
    ] = None,
    store: StoreOption = None,
    cache_dir: CacheOption = None,
    force: Annotated[bool, typer.Option(help="Rerun runs the store already has.")] = False,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (ray runner).")] = None,
    report: Annotated[bool, typer.Option(help="Write the HTML report afterwards.")] = True,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Run every analysis in SPEC and write its records to the store."""
    from interplab.core.paths import interplab_home
    from interplab.core.runners import check_workers, run_spec
    from interplab.core.specs import load_spec

    if runner not in _RUNNERS:
        raise ConfigError(f"--runner {runner!r} is not known; use one of {', '.join(_RUNNERS)}.")
    check_workers(workers, "--workers")
    if runner == "local" and workers not in (None, 1):
        raise ConfigError(
            f"--workers {workers} needs a parallel runner: --runner local runs one task at a "
            f"time; use --runner process --workers {workers} (or ray)."
        )
    experiment = load_spec(spec)
    report_dir = interplab_home() / "report"  # checked before running, like `report` uses it
    url, _ = store_url(store, experiment.store)  # checked before anything runs
    cache = open_cache(cache_dir)
    summary = run_spec(
        experiment, store_url=url, cache_dir=cache.root, origin=str(spec), runner=runner,
        workers=workers, address=address, force=force, show_progress=progress,
    )  # fmt: skip
    title = f"{experiment.name}: {plural(len(summary.outcomes), 'run')}"
    table = Table(title=title, title_justify="left")
    table.add_column("id", no_wrap=True, min_width=16)  # what `runs show` takes
    for column in ("run", "analysis", "status", "s", "headline metrics"):
        table.add_column(column, justify="right" if column == "s" else "left", overflow="fold")
    colours = {"completed": "green", "failed": "red", "skipped": "dim", "interrupted": "yellow"}
    for o in summary.outcomes:
        headline = ", ".join(
            f"{k.split('.', 1)[-1]}={format_value(v)}" for k, v in list(o.headline.items())[:3]
        )
        if o.error:
            headline = o.error.splitlines()[0][:120]
        colour = colours.get(o.status, "white")
        table.add_row(
            o.run_id,
            escape(o.label),
            o.analysis,
            f"[{colour}]{o.status}[/]",
            f"{o.seconds:.1f}",
            escape(headline),
        )
    console.print(table)
    _print_console_summaries(summary, cache)
    console.print(f"store: {escape(summary.store_url)}")
    if report:
        from interplab.core.report import build_report

        out = build_report(
            open_store(summary.store_url), cache, report_dir,
            experiment=[experiment.name],
        )  # fmt: skip
        console.print(f"report: {out}")
    failed = [o.run_id for o in summary.outcomes if o.status == "failed"]
    if failed:
        console.print(
            f"[red]{len(failed)} run(s) failed[/]; `interplab runs show {failed[0]}` shows why"
            + (" (the table gives the other ids)." if len(failed) > 1 else ".")
        )
        raise typer.Exit(1)


def _print_console_summaries(summary: Any, cache: Any) -> None:
    """Each analysis's own text about its records of this run (programs, headline findings)."""
    from interplab.core.registry import get_analysis

    records = [r for r in summary.records() if r.status == "completed"]
    for name in dict.fromkeys(r.analysis for r in records):
        try:
            text = get_analysis(name).console_summary(
                [r for r in records if r.analysis == name], cache
            )
        except Exception as error:  # a summary must never hide the run's results
            text = f"({name}: no summary: {type(error).__name__}: {error})"
        if text:
            console.rule(name)
            console.print(escape(text))


@app.command()
def analyses(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the registered analyses and their config fields, then any plugins that fail to load."""
    from interplab.core.registry import config_fields, load_analyses

    loaded, broken = load_analyses()
    rows: list[dict[str, Any]] = []
    for name, cls in loaded.items():
        fields = [dataclasses.asdict(f) for f in config_fields(cls)]
        rows.append({"name": name, "summary": cls.summary(), "fields": fields})
    if as_json:  # stdout stays a list of analyses; the broken plugins go to stderr
        typer.echo(json.dumps(rows, indent=2, default=str))
        for b in broken:
            err_console.print(
                f"[yellow]warning:[/] analysis '{escape(b.name)}' ({escape(b.value)}, from "
                f"{escape(b.distribution)}) cannot be loaded: {escape(b.error)}",
                soft_wrap=True,
            )
        return
    table = Table(title="registered analyses", title_justify="left", show_lines=True)
    table.add_column("analysis", overflow="fold")
    table.add_column("config fields (name: type = default)", overflow="fold")
    for row in rows:
        lines = [
            f"[bold]{f['name']}[/]: {escape(f['type'])}"
            + ("" if f["required"] else f" = {escape(repr(f['default']))}")
            + (f"\n  [dim]{escape(f['help'])}[/]" if f["help"] else "")
            for f in row["fields"]
        ]
        table.add_row(f"[bold]{row['name']}[/]\n{escape(row['summary'])}", "\n".join(lines) or "-")
    console.print(table)
    if broken:
        _print_broken(broken)


def _print_broken(broken: Sequence[BrokenAnalysis]) -> None:
    """The `broken plugins` table of ``analyses``: name, entry point and error of each."""
    table = Table(title="[red]broken plugins[/] (not loadable)", title_justify="left")
    for column in ("analysis", "entry point", "error"):
        table.add_column(column, overflow="fold")
    for b in broken:
        where = escape(f"{b.value} (from {b.distribution})")
        table.add_row(escape(b.name), where, f"[red]{escape(b.error)}[/]")
    console.print(table)
    console.print(
        "Specs that name a broken analysis fail; the others run. Fix the plugin's import or "
        "make its class `name` equal the entry-point name, or uninstall it."
    )


@app.command()
def report(
    out: Annotated[
        Path | None, typer.Option(help="Folder for report.html (default: $INTERPLAB_HOME/report).")
    ] = None,
    store: StoreOption = None,
    cache_dir: CacheOption = None,
    package: Package = None,
    analysis: AnalysisName = None,
    experiment: Experiment = None,
) -> None:
    """Write a self-contained HTML report of the store (figures embedded)."""
    from interplab.core.paths import interplab_home
    from interplab.core.report import build_report

    path = build_report(
        open_store(store), open_cache(cache_dir), out or interplab_home() / "report",
        **filters(package=package, analysis=analysis, experiment=experiment),
    )  # fmt: skip
    console.print(f"report: {path}")


@cache_app.command("info")
def cache_info(cache_dir: CacheOption = None) -> None:
    """Where the cache is and what it holds."""
    info = open_cache(cache_dir).info()
    table = Table(show_header=False)
    table.add_row("root", str(info.root))
    codecs = ", ".join(f"{name}: {n}" for name, n in sorted(info.by_codec.items()))
    table.add_row("entries", f"{info.entries}" + (f" ({codecs})" if codecs else ""))
    table.add_row("folders", str(info.dirs))
    table.add_row("blobs", str(info.blobs))
    table.add_row("size", f"{info.size_bytes / 2**20:.1f} MiB")
    console.print(table)


@cache_app.command("clear")
def cache_clear(
    cache_dir: CacheOption = None,
    store: StoreOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete the cache but the artifacts of stored records (models are retrained on next use).

    Figures and programs that records in the store reference stay: without them the report
    would lose them, and reruns (which skip stored runs) would never make them again. Delete
    those runs first (`interplab runs delete`) to remove their artifacts too.
    """
    cache = open_cache(cache_dir)
    # A default store not made yet references nothing; a named one that is not there is a typo
    # that must not cost the real store's artifacts.
    never_made = store_url(store)[1] == "the default" and missing_store(store) is not None
    opened = None if never_made else open_store(store)
    referenced = set() if opened is None else {
        a.sha256 for r in opened.query() for a in r.artifacts.values()
    }  # fmt: skip
    kept = sum(cache.blob_path(sha).is_file() for sha in referenced)
    if not yes:
        but = "" if opened is None else f" but the artifacts of {opened!r}"
        _confirm(f"Delete everything under {cache.root}{but}?")
    console.print(f"removed {cache.clear(keep_blobs=referenced)} cache items from {cache.root}")
    if kept:
        console.print(
            f"kept {kept} artifacts (figures, programs) of records in {opened!r}: the report "
            "shows them and reruns skip those runs; delete those runs first to remove them."
        )


def _confirm(question: str) -> None:
    import sys

    if not sys.stdin.isatty():
        raise ConfigError(f"{question} Not asking without a terminal; pass --yes to confirm.")
    if not typer.confirm(question):
        raise typer.Exit(1)


@app.command()
def doctor(store: StoreOption = None, cache_dir: CacheOption = None) -> None:
    """Versions, device, store and cache locations, and which optional extras are present."""
    import importlib.util
    import platform

    from interplab.core.environment import package_versions
    from interplab.core.paths import interplab_home
    from interplab.core.registry import load_analyses

    table = Table(show_header=False, title="interplab doctor", title_justify="left")
    table.add_column()
    table.add_column(overflow="fold")  # paths in full: they are what doctor is asked for
    table.add_row("python", f"{platform.python_version()} ({platform.platform()})")
    for name, version in package_versions():
        table.add_row(name, version)
    try:
        import torch

        from interplab.core.device import describe_device, resolve_device

        device = describe_device(resolve_device("auto"))
        table.add_row("device (auto)", f"{device}; CUDA available: {torch.cuda.is_available()}")
    except Exception as error:  # a broken torch install is exactly what doctor should show
        table.add_row("device (auto)", f"[red]torch unusable: {escape(str(error))}[/]")
    _doctor_row(table, "home", lambda: str(interplab_home()))
    _doctor_row(table, "store", lambda: _store_line(store))
    _doctor_row(table, "cache", lambda: _cache_line(open_cache(cache_dir)))
    extras: dict[str, Any] = {
        "ray (extra 'ray')": "ray",
        "mlflow (extra 'mlflow')": "mlflow",
        "psycopg (PostgreSQL)": "psycopg",
        "cleanlab": "cleanlab",
        "pysr": "pysr",
    }
    for label, module in extras.items():
        present = importlib.util.find_spec(module) is not None
        table.add_row(label, "[green]present[/]" if present else "[dim]not installed[/]")
    loaded, broken = load_analyses()
    names = sorted([*loaded, *(b.name for b in broken)])
    table.add_row("analyses", _analyses_by_package(names, {b.name for b in broken}))
    console.print(table)


def _analyses_by_package(names: list[str], broken: Collection[str] = ()) -> str:
    """``robustness: cka, logit-lens, ...``, one line per package prefix (``none`` if empty).

    Names in ``broken`` (plugins that fail to load) are shown in red with ``(broken)``.
    """
    groups: dict[str, list[str]] = {}
    for name in names:
        package, _, short = name.rpartition(".")
        shown = f"[red]{escape(short)} (broken)[/]" if name in broken else escape(short)
        groups.setdefault(package, []).append(shown)
    lines = [f"{escape(package)}: {', '.join(shorts)}" if package else ", ".join(shorts)
             for package, shorts in groups.items()]  # fmt: skip
    return "\n".join(lines) or "none"


def _doctor_row(table: Table, name: str, describe: Callable[[], str]) -> None:
    """A row of ``doctor``: what ``describe`` says, or its user error in red."""
    from interplab.core.errors import InterplabError

    try:
        table.add_row(name, escape(describe()))
    except InterplabError as error:
        table.add_row(name, f"[red]{escape(str(error))}[/]")


def _store_line(store: str | None) -> str:
    problem = missing_store(store)  # doctor only looks: it must not create the store
    if problem:
        return problem
    opened = open_store(store)
    return f"{opened!r}: {plural(opened.count(), 'record')}"


def _cache_line(cache: Any) -> str:
    return f"{cache.root} ({cache.info().size_bytes / 2**20:.1f} MiB)"
