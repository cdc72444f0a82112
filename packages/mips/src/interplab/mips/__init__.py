"""interplab.mips: distil trained RNNs into verified Python programs (Michaud et al. 2024).

The 62-task benchmark lives in :mod:`interplab.mips.tasks`; :func:`synthesize` runs the pipeline
of :mod:`interplab.mips.pipeline` (train the smallest RNN, simplify it, read its states,
regress, emit and verify a program), with settings in :class:`SynthesisConfig`. Names load on
first use, so ``import interplab.mips`` (and the CLI) does not import torch.
"""

from __future__ import annotations

from interplab.core.lazy import lazy_exports

__all__ = [
    "DEFAULT_STEPS",
    "SynthesisConfig",
    "SynthesisResult",
    "Task",
    "TaskData",
    "get_task",
    "list_tasks",
    "load_dataset",
    "synthesize",
    "synthesize_task",
]

_HOMES = {
    "DEFAULT_STEPS": "interplab.mips.simplify",
    "SynthesisConfig": "interplab.mips.pipeline",
    "SynthesisResult": "interplab.mips.pipeline",
    "synthesize": "interplab.mips.pipeline",
    "synthesize_task": "interplab.mips.pipeline",
    "Task": "interplab.mips.tasks",
    "TaskData": "interplab.mips.tasks",
    "get_task": "interplab.mips.tasks",
    "list_tasks": "interplab.mips.tasks",
    "load_dataset": "interplab.mips.tasks",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
