"""interplab.mips: distil trained RNNs into verified Python programs (Michaud et al. 2024).

The 62-task benchmark lives in :mod:`interplab.mips.tasks`; :func:`synthesize` runs the pipeline
(train the smallest RNN, simplify it, read its states, regress, emit and verify a program).
Names load on first use, so ``import interplab.mips`` (and the CLI) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "SynthesisResult",
    "Task",
    "TaskData",
    "get_task",
    "list_tasks",
    "load_dataset",
    "synthesize",
]

_HOMES = {
    "SynthesisResult": "interplab.mips.synthesize",
    "synthesize": "interplab.mips.synthesize",
    "Task": "interplab.mips.tasks",
    "TaskData": "interplab.mips.tasks",
    "get_task": "interplab.mips.tasks",
    "list_tasks": "interplab.mips.tasks",
    "load_dataset": "interplab.mips.tasks",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'interplab.mips' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
