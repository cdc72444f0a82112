"""Task data sets in memory (:class:`TaskData`) and on disk (``.npz`` files).

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position. Inputs are
``(N, L)`` or ``(N, L, d_in)``, outputs ``(N, L)`` or ``(N, L, d_out)``, integer dtypes.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interplab.core.errors import ConfigError, ShapeError

__all__ = ["TaskData", "load_dataset", "save_dataset"]


def _check_arrays(inputs: np.ndarray, outputs: np.ndarray, source: str) -> None:
    """Raise if ``inputs`` and ``outputs`` are not integer sequence arrays of matching N and L."""
    for array_name, array in (("inputs", inputs), ("outputs", outputs)):
        if not isinstance(array, np.ndarray):
            raise ConfigError(
                f"{source}: {array_name} is a {type(array).__name__}, not a NumPy array; "
                f"pass np.asarray({array_name})."
            )
        if not np.issubdtype(array.dtype, np.integer):
            raise ConfigError(
                f"{source}: {array_name} has dtype {array.dtype}, but task data must be "
                f"integers; convert it with {array_name}.astype(np.int64) after checking that "
                "every value is a whole number."
            )
        if array.ndim not in (2, 3):
            raise ShapeError(
                f"{source}: {array_name} has shape {array.shape}; expected (N, L) or (N, L, d) "
                "with N sequences of L positions."
            )
    if inputs.shape[0] != outputs.shape[0]:
        raise ShapeError(
            f"{source}: inputs hold N={inputs.shape[0]} sequences but outputs hold "
            f"N={outputs.shape[0]}; both arrays need one row per sequence."
        )
    if inputs.shape[1] != outputs.shape[1]:
        raise ShapeError(
            f"{source}: inputs have L={inputs.shape[1]} positions but outputs have "
            f"L={outputs.shape[1]}; MIPS tasks emit one output per input position."
        )


@dataclass(frozen=True)
class TaskData:
    """Input and output sequences of one task (or of a user's data set).

    Raises:
        ConfigError: an array is not an integer NumPy array.
        ShapeError: an array is not 2-D or 3-D, or N or L differ between the two.
    """

    inputs: np.ndarray
    """Integer ``(N, L)`` or ``(N, L, d_in)``."""
    outputs: np.ndarray
    """Integer ``(N, L)`` or ``(N, L, d_out)``; ``outputs[i]`` is the target of ``inputs[i]``."""
    name: str
    """Task name (or the data set's name for user data)."""

    def __post_init__(self) -> None:
        _check_arrays(self.inputs, self.outputs, f"TaskData {self.name!r}")

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def seq_len(self) -> int:
        """``L``, positions per sequence."""
        return int(self.inputs.shape[1])


def save_dataset(data: TaskData, path: str | Path) -> Path:
    """Write ``data`` to an uncompressed ``.npz`` file (arrays ``inputs``, ``outputs``, ``name``).

    Args:
        data: the data set.
        path: target file; ``.npz`` is appended if missing (as :func:`numpy.savez` does).

    Returns:
        The path written.
    """
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    np.savez(target, inputs=data.inputs, outputs=data.outputs, name=np.array(data.name))
    return target


def load_dataset(path: str | Path) -> TaskData:
    """Read a data set from an ``.npz`` file holding integer arrays ``inputs`` and ``outputs``.

    An optional string array ``name`` names the data set; otherwise the file stem does.

    Args:
        path: the ``.npz`` file, e.g. one written by :func:`save_dataset` or by
            ``np.savez(path, inputs=x, outputs=y)``.

    Returns:
        The data set, arrays as stored (dtypes are kept).

    Raises:
        ConfigError: the file is missing or not an ``.npz`` archive, an array is missing, or an
            array is not of an integer dtype.
        ShapeError: an array is not ``(N, L)`` or ``(N, L, d)``, or N or L differ.
    """
    source = Path(path)
    if not source.is_file():
        raise ConfigError(
            f"No data set file at {str(source)!r}; pass the path of an .npz file with arrays "
            "'inputs' and 'outputs'."
        )
    try:
        archive = np.load(source, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ConfigError(
            f"{str(source)!r} is not a readable .npz archive ({error}); write it with "
            "np.savez(path, inputs=x, outputs=y) or save_dataset()."
        ) from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ConfigError(
            f"{str(source)!r} holds a single array, not an .npz archive; write it with "
            "np.savez(path, inputs=x, outputs=y)."
        )
    with archive:
        missing = [key for key in ("inputs", "outputs") if key not in archive.files]
        if missing:
            raise ConfigError(
                f"{str(source)!r} has no array {missing[0]!r} (it holds "
                f"{sorted(archive.files) or 'no arrays'}); save it with "
                "np.savez(path, inputs=x, outputs=y)."
            )
        try:
            inputs, outputs = archive["inputs"], archive["outputs"]
            name = str(archive["name"]) if "name" in archive.files else source.stem
        except ValueError as error:  # object arrays need pickle, which is refused
            raise ConfigError(
                f"{str(source)!r} stores an object array ({error}); store plain integer arrays."
            ) from error
    _check_arrays(inputs, outputs, f"Data set file {str(source)!r}")
    return TaskData(inputs=inputs, outputs=outputs, name=name)
