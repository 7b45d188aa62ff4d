"""Spreading pure, CPU-bound work over the machine's cores, with the calling process as the fallback.

Validating a 100,000-row address book is pure Python that one core does at a fixed pace (most of it in
phonenumbers), so a large file waits on one core while the other idles. Worker processes, not threads,
because that work holds the GIL.

Workers are forked, and only from a process with no other thread: a forked copy of a lock another thread
held never wakes. ``spawn`` would be safe with threads but re-runs the calling script's top level in every
worker, and a script without a ``__main__`` guard would import its file again from each of them. So with
threads running (the console, an engine host) the work simply runs here, as it does for small inputs.

Whatever goes wrong with the pool itself (a worker killed, processes not allowed here) never loses a
chunk: the chunks without a result are simply run again in this process. An exception raised by the
work itself is the work's answer and is re-raised as it would be in-process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

A = TypeVar("A")
R = TypeVar("R")

_IN_FLIGHT_PER_WORKER = 4
"""Chunks queued per worker: enough to keep every worker busy, few enough to bound memory."""


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def map_chunks(work: Callable[[A], R], chunks: Iterable[A], *, workers: int) -> Iterator[R]:
    """``map(work, chunks)`` over ``workers`` processes, results in input order.

    ``chunks`` is consumed lazily, so the caller can still be reading its input while the first chunks
    are being worked on; ``work`` must be a picklable top-level function (or a ``functools.partial``
    of one). With ``workers`` below 2, or other threads running, everything runs here.
    """
    if workers < 2 or not _fork_is_safe():
        yield from map(work, chunks)
        return
    source = iter(chunks)
    pending: deque[tuple[A, Future[R] | None]] = deque()
    context = multiprocessing.get_context("fork")
    # Frozen objects are never scanned by the garbage collector, so the workers do not touch, and thereby
    # copy, every page of the caller's heap (gc.freeze's documented use before fork).
    gc.freeze()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            broken = False
            for chunk in source:
                pending.append((chunk, None if broken else _submit(pool, work, chunk)))
                broken = broken or pending[-1][1] is None
                while len(pending) > workers * _IN_FLIGHT_PER_WORKER:
                    yield _result(work, *pending.popleft())
            while pending:
                yield _result(work, *pending.popleft())
    finally:
        gc.unfreeze()


def _fork_is_safe() -> bool:
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


def _submit(pool: ProcessPoolExecutor, work: Callable[[A], R], chunk: A) -> Future[R] | None:
    try:
        return pool.submit(work, chunk)
    except (BrokenProcessPool, OSError, RuntimeError):
        return None  # the pool cannot take work: this chunk (and the rest) run in this process


def _result(work: Callable[[A], R], chunk: A, future: Future[R] | None) -> R:
    if future is not None:
        try:
            return future.result()
        except (BrokenProcessPool, OSError):
            pass  # the worker died, not the work: do it here
    return work(chunk)
