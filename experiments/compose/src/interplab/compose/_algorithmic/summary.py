"""Text and figures over finished records: the console table and the report's figure."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from interplab.core.records import ExperimentRecord

__all__ = ["console_table", "label", "overview_png", "value"]

HEADER = (
    "task",
    "transformer acc",
    "most harmful deletion",
    "first decodable",
    "MIPS solved",
    "program lines",
)


def label(task: str, seed: int, multi: bool) -> str:
    """A line's name: the task, with its seed when a run trains several."""
    return f"{task} (seed {seed})" if multi else task


def value(record: ExperimentRecord, key: str) -> float | None:
    """A metric's value, None when absent or NaN."""
    metric = record.metrics.get(key)
    return None if metric is None or math.isnan(metric.value) else metric.value


def _fmt(number: float | None) -> str:
    return "-" if number is None else f"{number:.3f}"


def _row(record: ExperimentRecord, multi: bool) -> tuple[str, ...]:
    params = record.params
    retained = value(record, "compose.min_acc_retained_delete")
    hidden = value(record, "compose.mips_hidden_dim")
    lines = value(record, "compose.mips_program_lines")
    return (
        label(str(params["task"]), int(params.get("seed", 0)), multi),
        _fmt(value(record, "compose.transformer_acc")),
        f"{params.get('most_harmful_deletion', '?')} ({_fmt(retained)} kept)",
        str(params.get("first_decodable") or "-"),
        ("yes" if value(record, "compose.mips_solved") else "no")
        + ("" if hidden is None else f" (RNN h={int(hidden)})"),
        "-" if not lines else str(int(lines)),
    )


def console_table(records: Sequence[ExperimentRecord]) -> str | None:
    """One line per task summary record (:data:`HEADER`); None without such records."""
    rows = [r for r in records if r.params.get("record") == "task-summary"]
    if not rows:
        return None
    multi = len({r.params.get("seed") for r in rows}) > 1
    table = [HEADER, *(_row(r, multi) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in out)


def overview_png(records: Sequence[ExperimentRecord]) -> bytes | None:
    """The overview figure (:func:`.plots.plot_overview`) rebuilt from records, as PNG."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from interplab.compose._algorithmic.plots import plot_overview

    done = [r for r in records if r.status == "completed"]
    multi = len({r.params.get("seed") for r in done if "seed" in r.params}) > 1
    sweep_rows: list[dict[str, Any]] = []
    lens_rows: list[dict[str, Any]] = []
    for r in done:
        name = label(str(r.params.get("task")), int(r.params.get("seed", 0)), multi)
        if "kind" in r.params and "compose.acc_retained" in r.metrics:
            sweep_rows.append({
                "model": name, "kind": r.params["kind"],
                "relative_depth": r.params["relative_depth"],
                "acc_retained": r.metrics["compose.acc_retained"].value,
            })  # fmt: skip
        if r.params.get("record") == "task-summary":
            n = len(r.params["lens_accuracy"]) - 1
            for i, accuracy in enumerate(r.params["lens_accuracy"]):
                lens_rows.append({
                    "model": name, "entry": i, "relative_depth": i / max(n, 1),
                    "lens_accuracy": accuracy,
                })  # fmt: skip
    if not sweep_rows and not lens_rows:
        return None
    fig = plot_overview(
        pd.DataFrame(sweep_rows) if sweep_rows else None,
        pd.DataFrame(lens_rows) if lens_rows else None,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
