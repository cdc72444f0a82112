"""How a metric value is written in tables (CLI and report alike)."""

from __future__ import annotations

import math


def format_value(value: float, unit: str = "") -> str:
    """A metric value for a table: integers as they are, else 4 significant digits.

    The unit is appended (except ``fraction``); NaN and infinities (from an old store) are
    written out.
    """
    if not math.isfinite(value):
        text = str(value)
    elif value == int(value) and abs(value) < 1e15:
        text = str(int(value))
    else:
        text = f"{value:.4g}"
    return f"{text} {unit}".strip() if unit and unit != "fraction" else text
