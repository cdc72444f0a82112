"""What every CLI command shares: consoles, option types, store and cache resolution."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from interplab.core.cache import Cache
    from interplab.core.store import Store

__all__ = [
    "StoreOption",
    "console",
    "err_console",
    "filters",
    "open_cache",
    "open_store",
]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="Store URL (default: $INTERPLAB_STORE or $INTERPLAB_HOME/store.db)."
    ),
]
CacheOption = Annotated[
    Path | None, typer.Option("--cache-dir", help="Cache folder (default: $INTERPLAB_HOME/cache).")
]
Package = Annotated[list[str] | None, typer.Option("--package", "-p", help="Only these packages.")]
AnalysisName = Annotated[
    list[str] | None, typer.Option("--analysis", "-a", help="Only these analyses.")
]
Status = Annotated[
    list[str] | None, typer.Option("--status", help="completed, failed, interrupted, running.")
]
Experiment = Annotated[
    list[str] | None, typer.Option("--experiment", "-e", help="Only these experiments.")
]
Tag = Annotated[list[str] | None, typer.Option("--tag", "-t", help="Records with all these tags.")]
Since = Annotated[
    str | None,
    typer.Option(
        "--since", help="Created at or after: an ISO date or date-time (UTC unless an offset)."
    ),
]
Where = Annotated[
    list[str] | None,
    typer.Option("--where", "-w", help="Metric filter, e.g. 'core.pi_abs_error<0.01'."),
]


def filters(
    package: list[str] | None = None,
    analysis: list[str] | None = None,
    status: list[str] | None = None,
    experiment: list[str] | None = None,
    tag: list[str] | None = None,
    since: str | None = None,
    where: list[str] | None = None,
) -> dict[str, Any]:
    """Store filter keywords from CLI options (unset options are left out)."""
    out: dict[str, Any] = {
        "package": package or None,
        "analysis": analysis or None,
        "status": status or None,
        "experiment": experiment or None,
        "tags": tag or None,
        "since": since,
        "metrics": tuple(where or ()),
    }
    return {k: v for k, v in out.items() if v not in (None, ())}


def open_store(url: str | None) -> Store:
    """The store at ``url`` or the default one."""
    from interplab.core.paths import default_store_url
    from interplab.core.store import Store

    return Store(url or default_store_url())


def open_cache(path: Path | None) -> Cache:
    """The cache at ``path`` or the default one."""
    from interplab.core.cache import Cache

    return Cache(path)
