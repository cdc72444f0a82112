"""Analyses are found through the entry-point group ``interplab.analyses``.

The three packages register theirs in their pyproject.toml exactly as a third party would::

    [project.entry-points."interplab.analyses"]
    "robustness.layer-sweep" = "interplab.robustness.analyses:LayerSweep"
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic_core import PydanticUndefined

from interplab.core.analysis import Analysis
from interplab.core.errors import RegistryError, UnknownAnalysisError

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenAnalysis",
    "ConfigField",
    "analysis_distribution",
    "analysis_names",
    "config_fields",
    "get_analysis",
    "load_analyses",
    "registered_analyses",
]

ENTRY_POINT_GROUP = "interplab.analyses"


@functools.cache
def registered_analyses() -> tuple[EntryPoint, ...]:
    """Every entry point in the group, sorted by name (cached; read-only tuple)."""
    return tuple(sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value)))


def analysis_names(eps: Sequence[EntryPoint] | None = None) -> list[str]:
    """Sorted unique names of the registered analyses."""
    return sorted({ep.name for ep in (registered_analyses() if eps is None else eps)})


def get_analysis(name: str, eps: Sequence[EntryPoint] | None = None) -> type[Analysis]:
    """Load the analysis class registered under ``name``.

    Raises:
        UnknownAnalysisError: no package registers ``name`` (lists the known ones).
        RegistryError: two packages register it, or the plugin fails to import or is not an
            :class:`Analysis` whose ``name`` matches.
    """
    eps = registered_analyses() if eps is None else eps
    found = [ep for ep in eps if ep.name == name]
    if not found:
        raise UnknownAnalysisError(name, analysis_names(eps))
    if len(found) > 1:
        claims = ", ".join(f"{ep.value} (from {_dist(ep)})" for ep in found)
        raise RegistryError(
            f"analysis {name!r} is registered more than once: {claims}; uninstall or rename one."
        )
    ep = found[0]
    try:
        cls = ep.load()
    except Exception as error:
        raise RegistryError(
            f"analysis {name!r} is registered as {ep.value!r} (from {_dist(ep)}) but importing it "
            f"failed: {type(error).__name__}: {error}"
        ) from error
    if not (isinstance(cls, type) and issubclass(cls, Analysis)):
        raise RegistryError(
            f"analysis {name!r} points to {ep.value!r}, which is not a subclass of "
            "interplab.core.analysis.Analysis."
        )
    if getattr(cls, "name", None) != name:
        raise RegistryError(
            f"analysis {ep.value!r} is registered as {name!r} but its class says "
            f"name={getattr(cls, 'name', None)!r}; make them equal."
        )
    return cls


def _dist(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"


@dataclass(frozen=True)
class BrokenAnalysis:
    """An installed entry point that does not load, for `interplab analyses` and ``doctor``."""

    name: str
    value: str
    """The entry point's ``module:Class`` (comma-separated when several claim ``name``)."""
    distribution: str
    error: str
    """What went wrong, on one line."""


def load_analyses(
    eps: Sequence[EntryPoint] | None = None,
) -> tuple[dict[str, type[Analysis]], list[BrokenAnalysis]]:
    """Load every registered analysis: the classes by name, and the entry points that fail.

    One broken plugin does not hide the others; :func:`get_analysis` still raises for it.
    """
    eps = registered_analyses() if eps is None else eps
    loaded: dict[str, type[Analysis]] = {}
    broken: list[BrokenAnalysis] = []
    for name in analysis_names(eps):
        try:
            loaded[name] = get_analysis(name, eps)
        except RegistryError as error:
            found = [ep for ep in eps if ep.name == name]
            cause = error.__cause__  # the import error itself; the rest names name and value
            text = f"{type(cause).__name__}: {cause}" if cause is not None else str(error)
            broken.append(
                BrokenAnalysis(
                    name,
                    ", ".join(ep.value for ep in found),
                    ", ".join(dict.fromkeys(_dist(ep) for ep in found)),
                    " ".join(text.split()),
                )
            )
    return loaded, broken


def analysis_distribution(name: str) -> tuple[str, str] | None:
    """(name, version) of the distribution whose entry point registers ``name``, if known."""
    for ep in registered_analyses():
        dist = getattr(ep, "dist", None)
        if ep.name == name and dist is not None:
            return str(dist.name), str(dist.version)
    return None


@dataclass(frozen=True)
class ConfigField:
    """One field of an analysis config, for `interplab analyses` and the report."""

    name: str
    type: str
    default: Any
    required: bool
    help: str


def config_fields(cls: type[Analysis]) -> list[ConfigField]:
    """The fields of ``cls.Config`` with type, default and docstring."""
    out = []
    for name, info in cls.Config.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and typing.get_origin(annotation) is None:
            type_name = annotation.__name__
        else:  # Literal[...], list[int], int | None: their __name__ would drop the arguments
            type_name = str(annotation).replace("typing.", "")
        default = None if info.default is PydanticUndefined else info.default
        if info.default_factory is not None:
            default = info.default_factory()  # type: ignore[call-arg]
        out.append(
            ConfigField(name, type_name, default, info.is_required(), info.description or "")
        )
    return out
