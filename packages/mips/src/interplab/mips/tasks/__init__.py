"""The 62 MIPS benchmark tasks (Michaud et al. 2024, arXiv 2402.05110): specs, rules and data.

Each task maps an integer sequence to an integer sequence of the same length, one output per
position. Specs, rules, boundary conventions, dtypes and splits follow ``mips_tasks.json``
exactly; they are encoded here, so nothing is read or downloaded at run time.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position; inputs
``(N, L)`` or ``(N, L, d_in)``, outputs ``(N, L)`` or ``(N, L, d_out)``, per each spec's layout.

Example:
    >>> task = get_task("binary_addition")
    >>> task.rule([(1, 1), (0, 1), (0, 0)])
    [0, 0, 1]
    >>> train, test = task.splits(n=1_000)
    >>> train.inputs.shape, test.outputs.shape
    ((900, 10, 2), (100, 10))
"""

from ._dataset import TaskData as TaskData
from ._dataset import load_dataset as load_dataset
from ._dataset import save_dataset as save_dataset
from ._registry import all_tasks as all_tasks
from ._registry import get_task as get_task
from ._registry import list_tasks as list_tasks
from ._spec import TaskSpec as TaskSpec
from ._task import Task as Task

__all__ = [
    "Task",
    "TaskData",
    "TaskSpec",
    "all_tasks",
    "get_task",
    "list_tasks",
    "load_dataset",
    "save_dataset",
]
