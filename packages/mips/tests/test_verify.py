"""Verification: test split, exhaustive enumeration, twice the length."""

from __future__ import annotations

from typing import Any

import numpy as np

from interplab.mips.tasks import get_task
from interplab.mips.verify import count_mismatches, verify_program


def parity_last2(seq: list[Any]) -> list[Any]:
    previous, out = 0, []
    for x in seq:
        out.append((x + previous) % 2)
        previous = x
    return out


def test_a_correct_program_is_solved_everywhere() -> None:
    task = get_task("Parity_Last2")
    report = verify_program(parity_last2, task, test=task.splits(n=2000)[1])
    assert report.solved and report.exact_test
    assert report.exact_exhaustive is True and report.n_exhaustive == 2**10
    assert report.exact_2x_length is True and report.n_2x_length == 2000


def test_a_program_wrong_on_one_unseen_sequence_is_not_solved() -> None:
    task = get_task("Parity_Last2")

    def almost(seq: list[Any]) -> list[Any]:
        out = parity_last2(seq)
        return [1 - out[0], *out[1:]] if seq == [1, 1, 1, 0, 1, 0, 0, 0, 1, 1] else out

    test = task.splits(n=200)[1]
    is_shown = (test.inputs == [1, 1, 1, 0, 1, 0, 0, 0, 1, 1]).all(axis=1).any()
    report = verify_program(almost, task, test=test)
    assert report.exact_exhaustive is False and not report.solved
    assert report.exact_test is not bool(is_shown)


def test_exhaustive_check_is_skipped_for_large_spaces() -> None:
    task = get_task("Sum_All")

    def running_sum(seq: list[Any]) -> list[Any]:
        total, out = 0, []
        for x in seq:
            total += x
            out.append(total)
        return out

    report = verify_program(running_sum, task, test=task.splits(n=500)[1], n_long=100)
    assert report.solved and report.exact_exhaustive is None and report.n_exhaustive == 0


def test_crashing_programs_count_every_sequence_as_wrong() -> None:
    def crash(seq: list[Any]) -> list[Any]:
        raise KeyError(seq[0])

    x = np.zeros((5, 3), dtype=np.int64)
    assert count_mismatches(crash, x, x) == 5
    assert count_mismatches(lambda s: list(s), x, x) == 0
