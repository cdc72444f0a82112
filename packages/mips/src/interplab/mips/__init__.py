"""interplab.mips: distil trained RNNs into verified Python programs (Michaud et al. 2024).

The 62-task benchmark lives in :mod:`interplab.mips.tasks`; :func:`synthesize` runs the pipeline
(train the smallest RNN, simplify it, read its states, regress, emit and verify a program).
"""

from interplab.mips.synthesize import (
    SynthesisResult as SynthesisResult,
)
from interplab.mips.synthesize import (
    synthesize as synthesize,
)
from interplab.mips.tasks import (
    Task as Task,
)
from interplab.mips.tasks import (
    TaskData as TaskData,
)
from interplab.mips.tasks import (
    get_task as get_task,
)
from interplab.mips.tasks import (
    list_tasks as list_tasks,
)
from interplab.mips.tasks import (
    load_dataset as load_dataset,
)

__all__ = [
    "SynthesisResult",
    "Task",
    "TaskData",
    "get_task",
    "list_tasks",
    "load_dataset",
    "synthesize",
]
