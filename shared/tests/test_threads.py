import os

import pytest
import torch

from interplab.core import threads


def test_threads_stay_within_the_cores_and_are_restored() -> None:
    cores = len(os.sched_getaffinity(0))
    assert 1 <= threads.idle_cores() <= min(4, cores)
    before = torch.get_num_threads()
    with threads.cpu_threads(torch.device("cpu")) as count:
        assert torch.get_num_threads() == count and 1 <= count <= min(4, cores)
    assert torch.get_num_threads() == before


def test_busy_cores_leave_fewer_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_allowed_cpus", lambda: [0, 1, 2, 3])
    for share, expected in [(0.0, 4), (0.5, 2), (0.8, 1), (1.0, 1)]:
        monkeypatch.setattr(threads, "_busy_share", lambda cpus, window, s=share: s)
        assert threads.idle_cores() == expected


def test_without_proc_stat_the_load_average_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(cpus: list[int], window: float) -> float:
        raise OSError("no /proc/stat")

    monkeypatch.setattr(threads, "_allowed_cpus", lambda: [0, 1])
    monkeypatch.setattr(threads, "_busy_share", unreadable)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    assert threads.idle_cores() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0))  # only this process
    assert threads.idle_cores() == 2


def test_other_devices_keep_the_thread_count() -> None:
    before = torch.get_num_threads()
    with threads.cpu_threads(torch.device("meta")):
        assert torch.get_num_threads() == before
