"""Reversible, composable, in-place layer interventions on any model's residual-block list.

::

    from interplab.robustness.interventions import Delete, Swap, intervene, logits

    with intervene(bridge, Delete(3)):
        out = logits(bridge, ids)        # [batch, seq, vocab]
    # here the model is bit-identical to before
"""

from interplab.robustness.interventions.blocks import (
    ExecutionRecorder,
    changes_shape,
    find_blocks,
    record_residuals,
)
from interplab.robustness.interventions.context import Session, intervene, logits
from interplab.robustness.interventions.ops import (
    Ablate,
    Delete,
    Intervention,
    Permute,
    Repeat,
    Step,
    Swap,
)

__all__ = [
    "Ablate",
    "Delete",
    "ExecutionRecorder",
    "Intervention",
    "Permute",
    "Repeat",
    "Session",
    "Step",
    "Swap",
    "changes_shape",
    "find_blocks",
    "intervene",
    "logits",
    "record_residuals",
]
