"""The analysis contract: what a plugin implements and what it gets while it runs.

An analysis is a class with a ``name`` (``package.what``), a pydantic ``Config``, optional
metric specs, and ``run(config, ctx)`` yielding records made with :meth:`RunContext.record`::

    class PiEstimate(Analysis):
        name = "core.selftest"
        Config = SelfTestConfig
        metrics = {"core.pi_abs_error": MetricSpec(unit="", higher_is_better=False)}

        def run(self, config, ctx):
            ...
            yield ctx.record({"core.pi_abs_error": err})

It is registered under the entry-point group ``interplab.analyses`` in the package's
pyproject.toml. The runner validates the config, seeds, builds the context, and writes the
records; the analysis never touches the store.
"""

from __future__ import annotations

import io
import logging
import re
import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from interplab.core.errors import ConfigError
from interplab.core.records import Artifact, Environment, ExperimentRecord, Metric, MetricSpec

if TYPE_CHECKING:
    import torch

    from interplab.core.cache import Cache

__all__ = ["Analysis", "AnalysisConfig", "Progress", "RunContext", "no_progress"]

T = TypeVar("T")
Progress = Callable[..., Iterator[Any]]
"""``progress(iterable, total=None, description="")`` yields the items and shows a bar."""


def no_progress(
    iterable: Iterable[T], total: int | None = None, description: str = ""
) -> Iterator[T]:
    """A :data:`Progress` that shows nothing (used in worker processes and tests)."""
    yield from iterable


class AnalysisConfig(BaseModel):
    """Base of analysis configs: frozen, unknown keys rejected, field docstrings as help."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse ``true``/``false`` for a number field (pydantic would read them as 1 and 0)."""
        field_info = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field_info and _numeric(field_info.annotation):
            raise ValueError("a number is expected, not true/false")
        return value


def _numeric(annotation: Any) -> bool:
    """Whether ``annotation`` is ``int`` or ``float``, possibly in a union without ``bool``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        return bool not in args and any(_numeric(a) for a in args)
    return annotation in (int, float)


_KEY = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass
class RunContext:
    """What an analysis gets from the runner: identity, seed, device, cache, progress, logging."""

    run_id: str
    analysis: str
    package: str
    params: dict[str, Any]
    """The validated config as JSON values (copied into every record)."""
    seed: int
    device: torch.device
    cache: Cache
    env: Environment
    metric_specs: Mapping[str, MetricSpec] = field(default_factory=dict)
    experiment: str | None = None
    tags: tuple[str, ...] = ()
    progress: Progress = no_progress
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("interplab.run"))
    _count: int = 0
    _keys: dict[str, str] = field(default_factory=dict)
    """Each record id suffix made so far -> how it was asked for (for the duplicate-id message)."""

    def record(
        self,
        metrics: Mapping[str, float | Metric],
        *,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
        inputs: Mapping[str, str] | None = None,
        artifacts: Mapping[str, Artifact] | None = None,
        tags: Sequence[str] = (),
        parent_id: str | None = None,
    ) -> ExperimentRecord:
        """A completed record of this run.

        Args:
            metrics: values by namespaced key; a bare float takes the unit and direction the
                analysis declared in ``metrics``, a :class:`Metric` is used as given.
            key: short stable name for this record within the run (e.g. ``"delete-L3"``);
                defaults to its index. Ids are ``<run_id>-<key>``, so reruns replace them.
            params: per-record parameters added to the run's config (e.g. ``{"layer": 3}``).
            inputs: content hashes of models/data used (``{"model": digest}``).
            artifacts: files made with :meth:`figure` or :meth:`artifact`.
            tags: added to the run's tags.
            parent_id: id of a record this one refines.
        """
        resolved: dict[str, Metric] = {}
        for name, value in metrics.items():
            if isinstance(value, Metric):
                resolved[name] = value
            elif name in self.metric_specs:
                resolved[name] = self.metric_specs[name](value)
            else:
                raise ConfigError(
                    f"metric {name!r} of {self.analysis!r} is a bare number but the analysis "
                    f"declares no spec for it (declared: {sorted(self.metric_specs)}); add it to "
                    "the analysis's `metrics` or pass "
                    "Metric(value=..., unit=..., higher_is_better=...)."
                )
        suffix = _KEY.sub("_", key) if key is not None else f"{self._count:04d}"
        asked = f"key={key!r}" if key is not None else f"no key (record number {self._count})"
        earlier = self._keys.setdefault(suffix, asked)
        if earlier != asked:
            raise ConfigError(
                f"two records of {self.analysis!r} get the id {self.run_id}-{suffix}: one with "
                f"{earlier}, one with {asked}. Record ids are '<run_id>-<key>' with every run of "
                "characters outside A-Z a-z 0-9 _ . - replaced by '_' (key='layer 1' and "
                "key='layer/1' both give 'layer_1'; records without a key are numbered 0000, "
                "0001, ...); give each record a key that stays distinct."
            )
        self._count += 1
        return ExperimentRecord(
            id=f"{self.run_id}-{suffix}",
            run_id=self.run_id,
            package=self.package,
            analysis=self.analysis,
            status="completed",
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            params={**self.params, **(params or {})},
            metrics=resolved,
            artifacts=dict(artifacts or {}),
            inputs=dict(inputs or {}),
            env=self.env,
            experiment=self.experiment,
            parent_id=parent_id,
            tags=tuple(dict.fromkeys((*self.tags, *tags))),
        )

    def artifact(self, data: bytes, *, media_type: str, title: str = "") -> Artifact:
        """Store ``data`` in the cache's blob store and describe it for a record."""
        sha = self.cache.put_blob(data)
        return Artifact(sha256=sha, media_type=media_type, size_bytes=len(data), title=title)

    def figure(self, fig: Any, title: str = "", *, dpi: int = 110) -> Artifact:
        """Save a matplotlib figure as PNG into the blob store and close it."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        return self.artifact(buffer.getvalue(), media_type="image/png", title=title)


class Analysis(ABC):
    """Base class of analysis plugins. Subclasses set ``name`` and ``Config``, implement ``run``."""

    name: ClassVar[str]
    """Registered name, ``package.what`` (e.g. ``robustness.layer-sweep``)."""
    Config: ClassVar[type[AnalysisConfig]] = AnalysisConfig
    metrics: ClassVar[Mapping[str, MetricSpec]] = {}
    """Unit and direction of each metric this analysis reports."""

    @classmethod
    def package(cls) -> str:
        """The package part of :attr:`name`."""
        return cls.name.split(".", 1)[0]

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @abstractmethod
    def run(self, config: Any, ctx: RunContext) -> Iterable[ExperimentRecord]:
        """Compute and yield records (made with ``ctx.record``)."""

    @classmethod
    def console_summary(cls, records: Sequence[ExperimentRecord], cache: Cache) -> str | None:
        """Text printed after ``interplab run`` for this analysis's records (e.g. MIPS programs).

        ``None`` (the default) prints nothing; the summary table is always shown.
        """
        return None

    @classmethod
    def figures(cls, records: Sequence[ExperimentRecord]) -> list[tuple[str, bytes]]:
        """Figures summarising many records of this analysis for the report: (title, PNG bytes)."""
        return []
