"""Text tables and CSV of ``compose.label-quality-of-next-tokens``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from interplab.compose._next_tokens.documents import KINDS
from interplab.core.records import ExperimentRecord

__all__ = ["INTACT", "format_table", "scores_csv"]

INTACT = "intact"
"""Name of the unmodified model among the interventions."""


def format_table(records: Sequence[ExperimentRecord]) -> str:
    """A text table: AUPRC per method and intervention, then intact AUPRC per corruption kind."""
    columns = list(dict.fromkeys(str(r.params["intervention"]) for r in records))
    methods = list(dict.fromkeys(str(r.params["method"]) for r in records))
    cell = {(str(r.params["intervention"]), str(r.params["method"])): r for r in records}

    def value(record: ExperimentRecord | None, key: str) -> str:
        metric = record.metrics.get(key) if record is not None else None
        return f"{metric.value:.3f}" if metric is not None else "-"

    any_record = records[0]
    base = any_record.metrics.get("compose.base_rate")
    head = (
        f"AUPRC of ranking corrupted documents first (base rate {base.value:.3f})" if base else ""
    )
    width = max(len(m) for m in [*methods, "method"])
    lines = [head, "  ".join(["method".ljust(width), *(c.rjust(10) for c in columns)])]
    for m in methods:
        row = [value(cell.get((c, m)), "compose.auprc").rjust(10) for c in columns]
        lines.append("  ".join([m.ljust(width), *row]))
    kinds = [k for k in KINDS if any(f"compose.auprc_{k}" in r.metrics for r in records)]
    if kinds and INTACT in columns:
        lines += ["", f"AUPRC by corruption kind, {INTACT} model"]
        lines.append("  ".join(["method".ljust(width), *(k.rjust(13) for k in kinds)]))
        for m in methods:
            row = [value(cell.get((INTACT, m)), f"compose.auprc_{k}").rjust(13) for k in kinds]
            lines.append("  ".join([m.ljust(width), *row]))
    return "\n".join(lines if head else lines[1:])


def scores_csv(corpus: Any, scores: dict[str, dict[str, np.ndarray]], methods: Any) -> str:
    """One row per document: id, corruption, every (intervention, method) score."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = [(label, m) for label in scores for m in (*methods, "nll")]
    writer.writerow(["document", "doc_id", "corruption", *(f"{a}/{m}" for a, m in columns)])
    for i, (doc_id, kinds) in enumerate(zip(corpus.doc_ids, corpus.kinds, strict=True)):
        values = [f"{scores[a][m][i]:.6g}" for a, m in columns]
        writer.writerow([i, doc_id, ",".join(kinds), *values])
    return out.getvalue()
