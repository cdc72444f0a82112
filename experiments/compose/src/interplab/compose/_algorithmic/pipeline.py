"""Data, trained model and MIPS result of one task: what the analysis computes and caches.

Legend: ``N`` sequences, ``L`` positions of the task, rows of ``2L + 1`` tokens (see
:mod:`.encoding`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import torch

    from interplab.compose.algorithmic import StagesConfig
    from interplab.core.cache import Cache

__all__ = [
    "TRAIN_VERSION",
    "as_tensor",
    "majority_accuracy",
    "mips_summary",
    "model_folder",
    "task_data",
]

TRAIN_VERSION = 1
"""Bump when the encoding or training recipe changes what a config produces."""


def task_data(
    name: str, config: StagesConfig
) -> tuple[Any, Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The task, its vocabulary and encoded rows.

    Returns:
        ``(task, vocab, train_rows [N_train, 2L + 1], test_rows [N_test, 2L + 1], test inputs,
        test outputs)``; inputs and outputs in the task's layout.

    Raises:
        ConfigError: unknown task (MIPS's message), a split left empty, or a too-big alphabet.
    """
    from interplab.compose._algorithmic.encoding import TaskVocabulary, interleave
    from interplab.mips.tasks import get_task

    task = get_task(name)
    vocab = TaskVocabulary.of(task, max_size=config.max_vocab)
    train, test = task.splits(n=config.n_sequences)
    train_rows = interleave(vocab.encode_inputs(train.inputs), vocab.encode_outputs(train.outputs))
    test_rows = interleave(vocab.encode_inputs(test.inputs), vocab.encode_outputs(test.outputs))
    return task, vocab, train_rows, test_rows, test.inputs, test.outputs


def _settings(config: StagesConfig, train_seed: int) -> Any:
    from interplab.compose._algorithmic.train import TrainSettings

    return TrainSettings(
        n_layers=config.n_layers, d_model=config.d_model, n_heads=config.n_heads,
        steps=config.train_steps, batch_size=config.batch_size, lr=config.lr, seed=train_seed,
    )  # fmt: skip


def model_folder(
    cache: Cache,
    task: str,
    config: StagesConfig,
    train_seed: int,
    device: torch.device,
    progress: Any = None,
) -> Path:
    """The trained transformer's ``save_pretrained`` folder (trained on a cache miss).

    Args:
        cache: the core cache keeping it.
        task: a MIPS task name (any case).
        config: the analysis config (task data and model settings are read from it).
        train_seed: the run's seed plus the entry of ``config.seeds``.
        device: where to train; its type is part of the key.
        progress: ``progress(iterable, total=, description=)`` over training steps.
    """
    import numpy as np
    import torch
    import transformers

    from interplab.compose._algorithmic.train import train_into
    from interplab.core.analysis import no_progress
    from interplab.core.hashing import digest_bytes

    _, vocab, train_rows, test_rows, _, _ = task_data(task, config)
    settings = _settings(config, train_seed)
    key = {
        "what": "compose/algorithmic-transformer", "v": TRAIN_VERSION, "task": vocab.task,
        "data": digest_bytes(np.ascontiguousarray(train_rows).tobytes()),
        "vocab_size": vocab.size, "settings": settings.as_dict(), "device": device.type,
        "torch": torch.__version__, "transformers": transformers.__version__,
    }  # fmt: skip
    return cache.directory(
        key,
        lambda folder: train_into(
            folder,
            vocab=vocab,
            train_rows=train_rows,
            test_rows=test_rows,
            settings=settings,
            device=device,
            progress=progress or no_progress,
        ),
    )


def mips_summary(
    task: Any, n_sequences: int, seed: int, budget: float | None, max_exhaustive: int
) -> dict[str, Any]:
    """MIPS on the task (same draw and split as the transformer), as JSON values."""
    from interplab.mips.pipeline import synthesize_task

    result = synthesize_task(
        task, n_sequences=n_sequences, seed=seed, time_budget_s=budget, progress=False,
        max_exhaustive=max_exhaustive,
    )  # fmt: skip
    return {
        "solved": bool(result.solved),
        "hidden_dim": result.hidden_dim,
        "program_lines": result.program_lines,
        "stage": result.stage,
        "rnn_accuracy": result.rnn_accuracy,
        "architecture": None if result.architecture is None else result.architecture.describe(),
        "seconds": result.timings.get("total", 0.0) + result.timings.get("verify", 0.0),
        "source": result.source,
    }


def as_tensor(rows: np.ndarray) -> torch.Tensor:
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(rows))


def majority_accuracy(train_rows: np.ndarray, test_rows: np.ndarray) -> float:
    """Test accuracy of answering the training split's commonest output at every position."""
    import numpy as np

    values, counts = np.unique(train_rows[:, 2::2], return_counts=True)
    return float((test_rows[:, 2::2] == values[counts.argmax()]).mean())
