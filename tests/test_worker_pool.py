"""The process pool behind large imports: order kept, a dead worker costs nothing, threads mean in-process."""

from __future__ import annotations

import os
import threading
from functools import partial

import pytest

from alertcast.services.worker_pool import map_chunks, usable_cores

pytestmark = pytest.mark.skipif(usable_cores() < 2, reason="needs two cores to start worker processes")


def pid_and_sum(chunk: list[int]) -> tuple[int, int]:
    return os.getpid(), sum(chunk)


def die_in_worker(chunk: list[int], parent: int) -> int:
    if os.getpid() != parent:
        os._exit(3)  # a worker killed mid-task, as by the OOM killer
    return sum(chunk)


def fail_on_seven(chunk: list[int]) -> int:
    if 7 in chunk:
        raise ValueError("seven is not allowed")
    return sum(chunk)


CHUNKS = [list(range(i, i + 5)) for i in range(0, 100, 5)]


def test_results_come_back_in_input_order_from_other_processes() -> None:
    results = list(map_chunks(pid_and_sum, iter(CHUNKS), workers=2))
    assert [total for _, total in results] == [sum(c) for c in CHUNKS]
    assert {pid for pid, _ in results} - {os.getpid()}, "no chunk ran in a worker process"


def test_one_worker_means_in_process() -> None:
    results = list(map_chunks(pid_and_sum, CHUNKS, workers=1))
    assert {pid for pid, _ in results} == {os.getpid()}


def test_a_killed_worker_loses_no_chunk() -> None:
    work = partial(die_in_worker, parent=os.getpid())
    assert list(map_chunks(work, CHUNKS, workers=2)) == [sum(c) for c in CHUNKS]


def test_an_error_in_the_work_is_raised_as_in_process() -> None:
    with pytest.raises(ValueError, match="seven"):
        list(map_chunks(fail_on_seven, CHUNKS, workers=2))


def test_with_another_thread_running_nothing_is_forked() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, args=(30,))
    thread.start()
    try:
        results = list(map_chunks(pid_and_sum, CHUNKS, workers=2))
    finally:
        stop.set()
        thread.join()
    assert {pid for pid, _ in results} == {os.getpid()}
    assert [total for _, total in results] == [sum(c) for c in CHUNKS]
