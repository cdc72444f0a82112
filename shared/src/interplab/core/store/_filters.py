"""Query filters: which records a store call is about."""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, cast, get_args

from sqlalchemy import ColumnElement, select

from interplab.core.errors import StoreError
from interplab.core.records import Status
from interplab.core.store._tables import metrics, runs, tags

__all__ = [
    "STATUSES",
    "MetricFilter",
    "RecordFilter",
    "describe_filters",
    "parse_instant",
    "unknown_value",
]

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
                "e.g. 'robustness.kl_mean<0.5' (operators: < <= > >= == != and = for ==; "
                "== compares exactly, and tables round values, so select floats by a range)."
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


def parse_instant(
    name: str, value: datetime | date | str | None, *, end_of_day: bool = False
) -> datetime | None:
    """``since``/``until`` as an aware UTC datetime.

    ``value`` is a datetime (naive means UTC), a date (its midnight, or its last microsecond
    with ``end_of_day``) or an ISO string of either; anything else is a :class:`StoreError`.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:  # a date alone (2026-11-24, 20261124) stays a date: end_of_day applies to it
            value = date.fromisoformat(text) if len(text) <= 10 else datetime.fromisoformat(text)
        except ValueError:
            raise StoreError(
                f"{name}={text!r} is not an ISO date or date-time; use e.g. '2026-11-24' or "
                "'2026-11-24T13:00:00+01:00' (without an offset the time is UTC)."
            ) from None
    if not isinstance(value, datetime):  # datetime is a subclass of date
        if not isinstance(value, date):
            raise StoreError(f"{name}={value!r} is not a datetime, a date or an ISO string.")
        value = datetime.combine(value, time.max if end_of_day else time.min)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class RecordFilter:
    """Conditions on records, all of which must hold. Empty means every record.

    ``package``, ``analysis``, ``status``, ``experiment``, ``run_id`` and ``ids`` accept one value
    or several (any of them matches); ``tags`` must all be present; ``since``/``until`` bound
    ``created_at`` (inclusive): datetimes (naive means UTC), dates or ISO strings of either (a
    date ``until`` includes that whole day); ``metrics`` is one or several
    :class:`MetricFilter` or strings like ``"mips.solved>=1"``, all of which must hold.
    """

    package: str | Sequence[str] | None = None
    analysis: str | Sequence[str] | None = None
    status: str | Sequence[str] | None = None
    experiment: str | Sequence[str] | None = None
    run_id: str | Sequence[str] | None = None
    ids: Sequence[str] | None = None
    tags: str | Sequence[str] | None = None
    since: datetime | date | str | None = None
    until: datetime | date | str | None = None
    metrics: MetricFilter | str | Sequence[MetricFilter | str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # normalised here, so that a bad value fails when the filter is made
        object.__setattr__(self, "since", parse_instant("since", self.since))
        object.__setattr__(self, "until", parse_instant("until", self.until, end_of_day=True))
        metrics = self.metrics
        items = (metrics,) if isinstance(metrics, str | MetricFilter) else tuple(metrics)
        object.__setattr__(self, "metrics", items)
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
        if self.since is not None:
            out.append(runs.c.created_at >= self.since)
        if self.until is not None:
            out.append(runs.c.created_at <= self.until)
        for item in cast(tuple[MetricFilter | str, ...], self.metrics):  # see __post_init__
            metric_filter = MetricFilter.parse(item) if isinstance(item, str) else item
            out.append(metric_filter.clause())
        return out


_PLURALS = {"experiment": "experiments", "analysis": "analyses", "package": "packages"}


def unknown_value(distinct: Callable[[str], list[str]], filters: Mapping[str, Any]) -> str | None:
    """Why an ``experiment``/``analysis``/``package`` filter would silently match nothing.

    A sentence naming the first such value that no stored record has (``distinct`` gives the
    stored values), with a close match and the known values; ``None`` when all are stored.
    """
    for name, plural in _PLURALS.items():
        values = _as_tuple(filters.get(name))
        known = distinct(name) if values else []
        for value in values:
            if value not in known:
                close = difflib.get_close_matches(value, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                listing = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
                return (
                    f"no stored record has the {name} {value!r}.{hint} "
                    f"Known {plural}: {listing or 'none (the store is empty)'}."
                )
    return None


def describe_filters(filters: Mapping[str, Any]) -> str:
    """``experiment='a', status=['failed', 'running']``: the filters as a user gave them."""
    parts = []
    for name, value in filters.items():
        if isinstance(value, tuple | list):
            if not value and name == "metrics":
                continue  # the default: no metric filter
            shown: Any = [str(v) for v in value]
            shown = shown[0] if len(shown) == 1 else shown
        elif value is None:
            continue
        else:
            shown = value if isinstance(value, str) else str(value)
        parts.append(f"{name}={shown!r}")
    return ", ".join(parts)
