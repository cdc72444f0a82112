"""A self-contained static HTML report of what the store holds.

One file, no external requests: figures are PNGs embedded as data URIs; every string that comes
from a record is HTML-escaped by Jinja2's autoescaping (tested with hostile strings).
"""

from __future__ import annotations

import base64
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interplab.core.records import ExperimentRecord, format_value

if TYPE_CHECKING:
    from interplab.core.cache import Cache
    from interplab.core.store import Store

__all__ = ["build_report", "render_report"]

_MAX_RECORD_FIGURES = 24
_MAX_TEXT_BYTES = 20_000
"""Text artifacts (programs, logs) up to this size are shown inline; larger ones are listed."""
_INLINE_TEXT = ("text/plain", "text/x-python", "text/markdown")


@dataclass
class _Figure:
    title: str
    data_uri: str


@dataclass
class _Section:
    package: str
    analysis: str
    summary: str
    records: list[ExperimentRecord]
    metric_keys: list[str]
    metric_meta: dict[str, dict[str, Any]]
    figures: list[_Figure] = field(default_factory=list)
    record_figures: list[tuple[str, _Figure]] = field(default_factory=list)
    texts: list[tuple[str, str, str]] = field(default_factory=list)
    """(record id, artifact title, text) of small text artifacts such as MIPS programs."""
    missing: list[tuple[str, str]] = field(default_factory=list)
    """(record id, artifact title) of figures and texts whose blobs the cache lacks."""
    varying: list[str] = field(default_factory=list)
    """Parameters (and ``seed``) whose values differ between the records (shown as columns)."""

    def short(self, key: str) -> str:
        """A metric key without the package prefix shared by every key of the section."""
        prefixes = {k.split(".", 1)[0] for k in self.metric_keys}
        return key.split(".", 1)[1] if len(prefixes) == 1 and "." in key else key

    def label(self, record: ExperimentRecord) -> str:
        """The record's id without its run id, when that is a prefix of it."""
        rest = record.id.removeprefix(record.run_id).lstrip("-")
        return rest or record.id

    def param(self, record: ExperimentRecord, key: str) -> str:
        """A parameter value (or the seed) as short text; "–" where the record has none."""
        value = record.params_and_seed.get(key)
        if value is None:
            return "–"
        return value if isinstance(value, str) else json.dumps(value, default=str)

    @property
    def anchor(self) -> str:
        return _anchor(self.analysis)


def _anchor(analysis: str) -> str:
    """The HTML id of an analysis's section."""
    return "a-" + "".join(c if c.isalnum() else "-" for c in analysis)


def _png(data: bytes, title: str) -> _Figure:
    return _Figure(title, "data:image/png;base64," + base64.b64encode(data).decode("ascii"))


def _sections(records: list[ExperimentRecord], cache: Cache | None) -> list[_Section]:
    from interplab.core.errors import InterplabError
    from interplab.core.registry import get_analysis
    from interplab.core.report._figures import sweep_figures

    grouped: dict[tuple[str, str], list[ExperimentRecord]] = defaultdict(list)
    for r in records:
        grouped[(r.package, r.analysis)].append(r)
    sections = []
    for (package, analysis), group in sorted(grouped.items()):
        keys = list(dict.fromkeys(k for r in group for k in r.metrics))
        meta = {}
        for key in keys:
            m = next(r.metrics[key] for r in group if key in r.metrics)
            meta[key] = {"unit": m.unit, "hib": m.higher_is_better, "description": m.description}
        summary, figures = "", []
        try:
            cls = get_analysis(analysis)
            summary = cls.summary()
            figures = [_png(png, title) for title, png in cls.figures(group)]
        except InterplabError:
            summary = "(analysis not installed here: records only)"
        figures += [_png(png, title) for title, png in sweep_figures(group)]
        section = _Section(package, analysis, summary, group, keys, meta, figures)
        section.varying = [
            k
            for k in dict.fromkeys(k for r in group for k in r.params_and_seed)
            if len({json.dumps(r.params_and_seed.get(k), default=str) for r in group}) > 1
        ][:6]
        if cache is not None:
            _attach_artifacts(section, cache)
        sections.append(section)
    return sections


def _attach_artifacts(section: _Section, cache: Cache) -> None:
    """Add the records' PNG figures and small text artifacts, read from the blob store.

    Those the blob store lacks are listed in ``section.missing`` (the report notes them).
    """
    for r in section.records:
        for name, artifact in r.artifacts.items():
            title = artifact.title or name
            if artifact.media_type == "image/png":
                if len(section.record_figures) >= _MAX_RECORD_FIGURES:
                    continue
                data = cache.read_blob(artifact.sha256)
                if data is not None:
                    section.record_figures.append((r.id, _png(data, title)))
            elif artifact.media_type in _INLINE_TEXT and artifact.size_bytes <= _MAX_TEXT_BYTES:
                data = cache.read_blob(artifact.sha256)
                if data is not None:
                    section.texts.append((r.id, title, data.decode("utf-8", errors="replace")))
            else:
                continue
            if data is None:
                section.missing.append((r.id, title))


@dataclass
class _SharedInput:
    """One input (a model or dataset content hash) used by records of several analyses."""

    digest: str
    names: list[str]
    """The input names the records gave it (``model``, ``tokens``, ...)."""
    users: list[tuple[str, str]]
    """(analysis, record id) of every record that used it."""


def _shared_inputs(records: list[ExperimentRecord]) -> list[_SharedInput]:
    """Inputs whose content hash appears in records of two or more analyses."""
    by_digest: dict[str, _SharedInput] = {}
    for r in records:
        for name, digest in r.inputs.items():
            shared = by_digest.setdefault(digest, _SharedInput(digest, [], []))
            if name not in shared.names:
                shared.names.append(name)
            shared.users.append((r.analysis, r.id))
    return [s for s in by_digest.values() if len({analysis for analysis, _ in s.users}) > 1]


def render_report(
    records: list[ExperimentRecord], *, cache: Cache | None = None, title: str = "interplab report",
    source: str = "",
) -> str:  # fmt: skip
    """The report's HTML for ``records`` (figures read from ``cache``'s blob store)."""
    import jinja2

    template_text = resources.files("interplab.core.report").joinpath("report.html.j2").read_text()
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = format_value
    env.filters["anchor"] = _anchor
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, default=str, sort_keys=True)
    counts: dict[str, int] = defaultdict(int)
    for r in records:
        counts[r.status] += 1
    return env.from_string(template_text).render(
        title=title,
        source=source,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        counts=dict(counts),
        total=len(records),
        sections=_sections(records, cache),
        shared_inputs=_shared_inputs(records),
    )


def build_report(store: Store, cache: Cache | None, out_dir: str | Path, **filters: Any) -> Path:
    """Write ``out_dir/report.html`` for the records matching ``filters``; returns its path."""
    from interplab.core.errors import StoreError
    from interplab.core.paths import write_problem
    from interplab.core.store._engine import redact_url

    records = store.query(**filters)
    html = render_report(records, cache=cache, source=redact_url(store.url))
    folder = Path(out_dir)
    path = folder / "report.html"
    tmp = folder / f".report.html.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as error:
        raise StoreError(
            f"cannot write the report into {str(folder)!r} ({write_problem(path, error)}); "
            "give --out a folder that can be created or written."
        ) from None
    return path.resolve()
