"""Hugging Face helpers shared by the zoo and the model loader."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["hf_progress_bars_off"]


@contextmanager
def hf_progress_bars_off() -> Iterator[None]:
    """Silence transformers' own tqdm bars ("Loading weights", "Writing model shards").

    For reading and writing local folders, where they flash by and clutter logs and
    ``--no-progress`` runs; interplab's own progress shows the long work. Hub downloads happen
    outside this block and keep their bars. The previous setting is restored.
    """
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
