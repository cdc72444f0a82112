"""Streaming: memory stays bounded by the batch (it does not grow with N beyond the outputs), and
chunks mapped on threads come back in order."""

import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fixtures import make_dataset

from interplab.seglabels.inputs import CHUNKS_PER_TASK, map_chunks
from interplab.seglabels.issues import find_label_issues
from interplab.seglabels.scores import image_scores


def peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def mapped_dataset(n: int, tmp_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels, probs, _ = make_dataset(n=n, k=8, h=64, w=64, seed=2)
    np.save(tmp_path / f"p{n}.npy", probs)
    return labels, np.load(tmp_path / f"p{n}.npy", mmap_mode="r"), probs


def test_peak_memory_does_not_grow_with_the_number_of_images(tmp_path: Path) -> None:
    small_labels, small, small_in_ram = mapped_dataset(16, tmp_path)
    big_labels, big, big_in_ram = mapped_dataset(128, tmp_path)
    one_batch = small_in_ram[:4].nbytes
    grown_input = big_in_ram.nbytes - small_in_ram.nbytes  # 7 MiB more pred_probs

    small_peak = peak_bytes(lambda: image_scores(small_labels, small, batch_size=4))
    big_peak = peak_bytes(lambda: image_scores(big_labels, big, batch_size=4))
    print(f"softmin peak: {small_peak / 2**20:.2f} MiB (N=16), {big_peak / 2**20:.2f} MiB (N=128)")
    assert big_peak < small_peak + one_batch
    assert big_peak < 0.1 * big_in_ram.nbytes

    small_peak = peak_bytes(lambda: find_label_issues(small_labels, small, batch_size=4))
    big_peak = peak_bytes(lambda: find_label_issues(big_labels, big, batch_size=4))
    grown_output = big_labels.size - small_labels.size  # the bool mask
    print(f"issue mask peak: {small_peak / 2**20:.2f} MiB (N=16), {big_peak / 2**20:.2f} MiB "
          f"(N=128); pred_probs grew by {grown_input / 2**20:.1f} MiB")  # fmt: skip
    assert big_peak < small_peak + grown_output + one_batch
    np.testing.assert_array_equal(
        find_label_issues(big_labels, big, batch_size=4), find_label_issues(big_labels, big_in_ram)
    )


@pytest.mark.parametrize("n_jobs", [1, 2, 3])
def test_map_chunks_keeps_the_order_and_raises_the_first_failure(n_jobs: int) -> None:
    items = list(range(3 * CHUNKS_PER_TASK + 5))  # tasks of CHUNKS_PER_TASK, the last one short
    threads: set[str] = set()

    def square(x: int) -> int:
        threads.add(threading.current_thread().name)
        return x * x

    assert list(map_chunks(square, items, n_jobs)) == [x * x for x in items]  # type: ignore[arg-type]
    on_workers = all(name.startswith("seglabels") for name in threads)
    assert on_workers == (n_jobs > 1)
    failing = (CHUNKS_PER_TASK + 2, 2 * CHUNKS_PER_TASK + 1)  # in the second and third task

    def fail(x: int) -> int:
        if x in failing:
            raise ValueError(f"chunk {x}")
        return x

    seen = []
    with pytest.raises(ValueError, match=rf"^chunk {failing[0]}$"):
        for x in map_chunks(fail, items, n_jobs):  # type: ignore[arg-type]
            seen.append(x)
    assert seen == items[: len(seen)] and len(seen) <= failing[0]  # results before, in order
