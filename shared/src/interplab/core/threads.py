"""How many torch threads to use on a CPU that other processes may be using.

The runner wraps every task in :func:`cpu_threads`. Measured on 2 cores: idle, two threads
trained a zoo LM 1.4 times faster than one; with other processes busy, two threads competing
with them were up to ten times slower (a robustness forward pass took 2.1 s on 2 threads and
0.14 s on 1). So: one thread per core that is idle right now, measured from ``/proc/stat`` over a
fifth of a second (Linux), else from the load average.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["cpu_threads", "idle_cores"]

_MAX_THREADS = 4
"""More threads than this rarely help the small models interplab trains on a CPU."""


@contextlib.contextmanager
def cpu_threads(device: torch.device) -> Iterator[int]:
    """On CPU, use :func:`idle_cores` torch threads inside the block; yields the count."""
    import torch

    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(idle_cores())
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def idle_cores(window_s: float = 0.2) -> int:
    """Cores this process may use that nothing else keeps busy (1 to 4)."""
    allowed = _allowed_cpus()
    try:
        busy = _busy_share(allowed, window_s) * len(allowed)
    except (OSError, ValueError):
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        busy = max(0.0, load - 1.0)  # the load average includes this process
    return max(1, min(_MAX_THREADS, round(len(allowed) - busy)))


def _allowed_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _busy_share(cpus: list[int], window_s: float) -> float:
    """Fraction of time ``cpus`` were busy while this process slept for ``window_s``."""
    busy_before, total_before = _jiffies(cpus)
    time.sleep(window_s)
    busy_after, total_after = _jiffies(cpus)
    total = total_after - total_before
    return (busy_after - busy_before) / total if total > 0 else 0.0


def _jiffies(cpus: list[int]) -> tuple[int, int]:
    """Busy and total ticks of ``cpus`` so far, from ``/proc/stat``."""
    busy = total = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
    if total == 0:
        raise ValueError("no matching cpu lines in /proc/stat")
    return busy, total
