"""Query filters: which records a store call is about."""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from sqlalchemy import ColumnElement, select

from interplab.core.errors import StoreError
from interplab.core.records import Status
from interplab.core.store._tables import metrics, runs, tags

__all__ = ["STATUSES", "MetricFilter", "RecordFilter"]

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}
STATUSES: tuple[str, ...] = get_args(Status)
"""The values ``status`` filters accept."""
_FILTER = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|<=|!=|==|>|<|=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class MetricFilter:
    """``key op value``, e.g. ``MetricFilter("seglabels.auprc", ">=", 0.5)``."""

    key: str
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise StoreError(f"metric filter operator {self.op!r} is not one of {sorted(_OPS)}.")
        if math.isnan(self.value):
            raise StoreError(
                f"metric filter '{self.key}{self.op}nan' would match nothing: NaN metrics are "
                "stored as missing, and a record without the metric never matches; compare "
                "with a number."
            )

    @classmethod
    def parse(cls, text: str) -> MetricFilter:
        """Parse ``"seglabels.auprc>=0.5"``."""
        match = _FILTER.match(text)
        if match is None:
            raise StoreError(
                f"metric filter {text!r} is not of the form KEY OP NUMBER; "
                "e.g. 'robustness.kl_mean<0.5' (operators: < <= > >= == !=)."
            )
        key, op, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            raise StoreError(f"metric filter {text!r}: {raw!r} is not a number.") from None
        return cls(key, op, value)

    def clause(self) -> ColumnElement[bool]:
        """A WHERE clause on ``runs`` selecting records whose metric satisfies the filter."""
        matching = select(metrics.c.record_id).where(
            metrics.c.key == self.key, _OPS[self.op](metrics.c.value, self.value)
        )
        return runs.c.id.in_(matching)


def _as_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC) if value is not None else None


@dataclass(frozen=True)
class RecordFilter:
    """Conditions on records, all of which must hold. Empty means every record.

    ``package``, ``analysis``, ``status``, ``experiment``, ``run_id`` and ``ids`` accept one value
    or several (any of them matches); ``tags`` must all be present; ``since``/``until`` bound
    ``created_at``; ``metrics`` are :class:`MetricFilter` or strings like ``"mips.solved>=1"``.
    """

    package: str | Sequence[str] | None = None
    analysis: str | Sequence[str] | None = None
    status: str | Sequence[str] | None = None
    experiment: str | Sequence[str] | None = None
    run_id: str | Sequence[str] | None = None
    ids: Sequence[str] | None = None
    tags: str | Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    metrics: Sequence[MetricFilter | str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        unknown = [s for s in _as_tuple(self.status) if s not in STATUSES]
        if unknown:
            close = difflib.get_close_matches(unknown[0], STATUSES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise StoreError(f"status {unknown[0]!r} is not one of {', '.join(STATUSES)}.{hint}")

    def clauses(self) -> list[ColumnElement[bool]]:
        """WHERE clauses on the ``runs`` table."""
        out: list[ColumnElement[bool]] = []
        for column, value in (
            (runs.c.package, self.package),
            (runs.c.analysis, self.analysis),
            (runs.c.status, self.status),
            (runs.c.experiment, self.experiment),
            (runs.c.run_id, self.run_id),
            (runs.c.id, self.ids),
        ):
            values = _as_tuple(value)
            if values:
                out.append(column.in_(values))
            elif value is not None and not isinstance(value, str):
                out.append(column.in_(()))  # an explicit empty list matches nothing
        for tag in _as_tuple(self.tags):
            out.append(runs.c.id.in_(select(tags.c.record_id).where(tags.c.tag == tag)))
        since, until = _as_utc(self.since), _as_utc(self.until)
        if since is not None:
            out.append(runs.c.created_at >= since)
        if until is not None:
            out.append(runs.c.created_at <= until)
        for item in self.metrics:
            metric_filter = MetricFilter.parse(item) if isinstance(item, str) else item
            out.append(metric_filter.clause())
        return out
