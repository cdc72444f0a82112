"""The experiment record: what one analysis run measured, with everything needed to trust it.

A record is the unit every package writes and the store, report and exports read. Its JSON form
is stable and versioned by ``schema_version``; older versions are upgraded on read
(see :mod:`interplab.core.records._upgrade`).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

__all__ = [
    "SCHEMA_VERSION",
    "Artifact",
    "Environment",
    "ExperimentRecord",
    "Metric",
    "MetricSpec",
    "Status",
]

SCHEMA_VERSION = 2
"""Version of the record JSON written by this code. Version 1 is upgraded on read."""

Status = Literal["running", "completed", "failed", "interrupted"]
"""``running``: started, not finished (or its process died). ``completed``: finished normally.
``failed``: the analysis raised (``error`` holds why). ``interrupted``: stopped by Ctrl-C."""

_METRIC_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_\-]+)+$")
_MAX_KEY = 200


class _Frozen(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, ser_json_inf_nan="constants"
    )


class Metric(_Frozen):
    """One measured number with its unit and the direction that counts as better."""

    value: float
    """The measurement; NaN is allowed and means "not defined for this run"; ±inf is refused."""
    unit: str = Field(default="", max_length=32)
    """Unit, e.g. ``"nats"``, ``"bits"``, ``"s"``, ``"fraction"``; empty for plain numbers."""
    higher_is_better: bool | None = None
    """``True`` / ``False`` for scores and losses, ``None`` for descriptive numbers."""
    description: str = ""
    """One line shown in the report and ``interplab runs show``."""

    @field_validator("value")
    @classmethod
    def _no_infinity(cls, value: float) -> float:
        if math.isinf(value):
            raise ValueError(
                f"metric value {value} is not finite; report a finite number, or NaN for "
                "'not defined for this run'"
            )
        return value

    @property
    def is_finite(self) -> bool:
        """False for NaN (infinities are refused when a metric is made)."""
        return math.isfinite(self.value)


class MetricSpec(_Frozen):
    """What an analysis declares about a metric it reports: unit and direction."""

    unit: str = ""
    higher_is_better: bool | None = None
    description: str = ""

    def __call__(self, value: float) -> Metric:
        """A :class:`Metric` with this spec and ``value``."""
        return Metric(
            value=float(value),
            unit=self.unit,
            higher_is_better=self.higher_is_better,
            description=self.description,
        )


class Artifact(_Frozen):
    """A file a run produced, kept in the cache's content-addressed blob store."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """Content hash; the blob's address."""
    media_type: str = "application/octet-stream"
    """MIME type, e.g. ``image/png`` for figures (the report embeds those)."""
    size_bytes: int = Field(ge=0)
    title: str = ""
    """Caption shown in the report."""


class Environment(_Frozen):
    """Where and with what a record was produced."""

    python: str = ""
    platform: str = ""
    hostname: str = ""
    packages: dict[str, str] = Field(default_factory=dict)
    """Versions of interplab's packages and its main dependencies."""
    git_sha: str | None = None
    device: str = ""
    seed: int | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ExperimentRecord(_Frozen):
    """One result of one analysis run.

    ``id`` is unique in a store; ``run_id`` is derived from the spec run (analysis, config, seed,
    experiment), so all records of one run share it and a rerun of the same spec finds them.
    """

    schema_version: Literal[2] = 2
    """Always :data:`SCHEMA_VERSION` when written by this code."""
    id: str = Field(min_length=1, max_length=200)
    run_id: str = Field(min_length=1, max_length=200)
    package: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$", max_length=64)
    """Owner of the analysis: ``core``, ``robustness``, ``mips``, ``seglabels`` or a plugin."""
    analysis: str = Field(min_length=1, max_length=200)
    """Registered analysis name, e.g. ``robustness.layer-sweep``."""
    status: Status = "completed"
    created_at: datetime = Field(default_factory=_utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    params: dict[str, JsonValue] = Field(default_factory=dict)
    """The exact, validated analysis config, plus any per-record parameters (e.g. the layer)."""
    metrics: dict[str, Metric] = Field(default_factory=dict)
    """Namespaced keys (``package.name``), e.g. ``robustness.loss_delta``."""
    artifacts: dict[str, Artifact] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)
    """Content hashes of the models and data used, so results join across packages."""
    env: Environment = Field(default_factory=Environment)
    experiment: str | None = Field(default=None, max_length=200)
    """Name of the spec this record came from."""
    parent_id: str | None = None
    tags: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    error: str | None = None
    """For failed runs: the exception type, message and traceback tail."""

    @field_validator("metrics")
    @classmethod
    def _check_metric_keys(cls, metrics: dict[str, Metric]) -> dict[str, Metric]:
        for key in metrics:
            if not _METRIC_KEY.match(key) or len(key) > _MAX_KEY:
                raise ValueError(
                    f"metric key {key!r} is not namespaced; use 'package.name' in lower case, "
                    f"at most {_MAX_KEY} characters, e.g. 'robustness.loss_delta'"
                )
        return metrics

    @field_validator("created_at", "started_at", "finished_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def params_and_seed(self) -> dict[str, JsonValue]:
        """``params`` plus the run's ``seed`` (from ``env``), for tables that compare runs."""
        if self.env.seed is None or "seed" in self.params:
            return dict(self.params)
        return {**self.params, "seed": self.env.seed}

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish, when both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_json(self) -> str:
        """Compact JSON; :meth:`from_json` reads it back (and older versions) unchanged."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> ExperimentRecord:
        """Parse JSON of any supported schema version, upgrading older ones."""
        import json

        from interplab.core.records._upgrade import upgrade

        data = json.loads(text)
        return cls.model_validate(upgrade(data))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentRecord:
        """Validate a dict of any supported schema version, upgrading older ones."""
        from interplab.core.records._upgrade import upgrade

        return cls.model_validate(upgrade(data))
