"""The process pool behind large imports: order kept, a dead worker costs nothing, threads mean in-process.

Each check runs in a fresh interpreter: the pool forks only from a process with no other thread, and the
test process may hold threads other tests left behind (libraries' idle pools), which would make every
pooled check silently run in-process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from alertcast.services.worker_pool import usable_cores

pytestmark = pytest.mark.skipif(usable_cores() < 2, reason="needs two cores to start worker processes")

SCRIPT = r"""
import json, os, sys, threading
from functools import partial
from alertcast.services.worker_pool import map_chunks

def pid_and_sum(chunk):
    return os.getpid(), sum(chunk)

def die_in_worker(chunk, parent):
    if os.getpid() != parent:
        os._exit(3)  # a worker killed mid-task, as by the OOM killer
    return os.getpid(), sum(chunk)

def fail_on_seven(chunk):
    if 7 in chunk:
        raise ValueError("seven is not allowed")
    return os.getpid(), sum(chunk)

chunks = [list(range(i, i + 5)) for i in range(0, 100, 5)]
case, workers = sys.argv[1], int(sys.argv[2])
work = {"plain": pid_and_sum, "die": partial(die_in_worker, parent=os.getpid()), "fail": fail_on_seven}[case]
stop = threading.Event()
if "--thread" in sys.argv:
    threading.Thread(target=stop.wait, args=(30,)).start()
try:
    results = list(map_chunks(work, iter(chunks), workers=workers))
    print(json.dumps({"me": os.getpid(), "pids": [p for p, _ in results], "sums": [s for _, s in results]}))
except ValueError as error:
    print(json.dumps({"error": str(error)}))
finally:
    stop.set()
"""
EXPECTED = [sum(range(i, i + 5)) for i in range(0, 100, 5)]


def run(case: str, workers: int = 2, *extra: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, case, str(workers), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_results_come_back_in_input_order_from_other_processes() -> None:
    out = run("plain")
    assert out["sums"] == EXPECTED
    assert set(out["pids"]) - {out["me"]}, "no chunk ran in a worker process"  # type: ignore[arg-type]


def test_one_worker_means_in_process() -> None:
    out = run("plain", 1)
    assert out["sums"] == EXPECTED and set(out["pids"]) == {out["me"]}  # type: ignore[arg-type]


def test_a_killed_worker_loses_no_chunk() -> None:
    out = run("die")
    assert out["sums"] == EXPECTED
    assert set(out["pids"]) == {out["me"]}, "every chunk was redone here after the workers died"  # type: ignore[arg-type]


def test_an_error_in_the_work_is_raised_as_in_process() -> None:
    assert run("fail") == {"error": "seven is not allowed"}


def test_with_another_thread_running_nothing_is_forked() -> None:
    out = run("plain", 2, "--thread")
    assert out["sums"] == EXPECTED and set(out["pids"]) == {out["me"]}  # type: ignore[arg-type]
