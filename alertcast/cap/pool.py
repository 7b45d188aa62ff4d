"""Reading many CAP documents on several cores, results handed back in input order.

Guarding, parsing, checking and building alerts is pure CPU work, so one ``alertcast ingest`` of a folder
can read documents in worker processes while this process stores what has been read. Workers are
started with ``spawn`` (never plain ``fork``: the caller may run threads, and a forked lock can hang a
child) and import only the reading code, not the fetching or storage stack.

Three things keep the pool from costing more than it saves. Workers take chunks of documents in order, a
little ahead of this process, which stores each result as its turn comes; when the next chunk is not ready
this process reads the *last* chunk no worker has taken yet (kept for its turn) instead of waiting idle.
Until a worker has delivered anything (spawning costs a fraction of a second), this process reads the
chunks itself rather than wait. And small batches (under ``MIN_DOCUMENTS``) or single-CPU machines do not
start a pool at all, nor does a machine whose other CPUs are already busy (by the load average).

Whatever goes wrong in a worker, no document is lost and nothing new reaches the user: a chunk whose
worker failed is read again in this process (giving exactly the result an in-process read gives,
reasons and all), and a broken pool (a worker killed or crashed) makes every later chunk read here.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from types import TracebackType

from alertcast.cap.guard import DEFAULT_MAX_BYTES
from alertcast.cap.reader import read_cap
from alertcast.cap.results import CapReadResult

logger = logging.getLogger(__name__)

MIN_DOCUMENTS = 16
"""Fewer documents than this are read in this process: starting workers would cost more than it saves."""
MAX_WORKERS = 4
_CHUNKS_PER_WORKER = 8
_MAX_CHUNK = 16

Document = tuple[bytes, str]
"""The document's bytes and its source (file path or URL), as :func:`read_cap` takes them."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def spare_workers() -> int:
    """Workers worth starting now: one per CPU beyond this process's own that other work (by the 1-minute
    load average) leaves free, at most ``MAX_WORKERS``.

    Measured on two cores: with the other core busy, a worker only takes CPU time from the process that
    stores, and a pooled ingest ran at about 80% of the in-process rate."""
    cpus = available_cpus()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        busy = 0.0
    return max(0, min(cpus - 1, MAX_WORKERS, round(cpus - 1 - busy)))


def read_chunk(documents: list[Document], max_bytes: int = DEFAULT_MAX_BYTES) -> list[CapReadResult]:
    """Read ``documents`` in order; what a worker runs (read_cap itself never raises for bad input)."""
    return [read_cap(data, source=source, max_bytes=max_bytes) for data, source in documents]


@dataclass(slots=True)
class _Batch:
    chunks: list[list[Document]]
    futures: list[Future[list[CapReadResult]] | None]
    read_here: dict[int, list[CapReadResult]] = field(default_factory=dict)
    """Chunks this process read ahead of their turn."""
    tail: int = -1
    """The last chunk that may still be untaken by workers: they take chunks in order, so it only falls."""

    def __post_init__(self) -> None:
        self.tail = len(self.chunks) - 1


class CapReadPool:
    """Reads batches of CAP documents, in worker processes when the batch is big enough to pay for them.

    Use as a context manager (``with CapReadPool() as pool: for result in pool.read(docs): ...``); the
    workers are started on the first batch that needs them and stopped on exit. ``workers`` defaults to
    :func:`spare_workers`; ``workers=0`` never starts any. ``pooled_documents`` counts the documents workers read (the rest were read here). With
    ``share_work=False`` this process never reads what a working pool could: every document of a pooled
    batch is read by a worker (slower to start, but what happens is then the same on every run).
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        min_documents: int = MIN_DOCUMENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        share_work: bool = True,
    ) -> None:
        # One CPU stays with this process, which stores while the workers read (and reads when they lag).
        self.workers = spare_workers() if workers is None else workers
        self.min_documents = min_documents
        self.max_bytes = max_bytes
        self.share_work = share_work
        self.pooled_documents = 0
        self._executor: ProcessPoolExecutor | None = None
        self._broken = False
        self._started = False
        """Set once a worker has delivered: until then workers are starting, and waiting on them is waste."""

    def __enter__(self) -> CapReadPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    @property
    def broken(self) -> bool:
        """True once workers could not start or stopped; every later document is read in this process."""
        return self._broken

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def read(self, documents: Sequence[Document]) -> Iterator[CapReadResult]:
        """One result per document, in input order, each as soon as it and all before it are read."""
        executor = self._executor_for(len(documents))
        if executor is None:
            for data, source in documents:
                yield read_cap(data, source=source, max_bytes=self.max_bytes)
            return
        size = max(1, min(_MAX_CHUNK, len(documents) // (self.workers * _CHUNKS_PER_WORKER)))
        chunks = [list(documents[start : start + size]) for start in range(0, len(documents), size)]
        batch = _Batch(chunks, self._submit(executor, chunks))
        try:
            for index in range(len(chunks)):
                results = batch.read_here.pop(index, None)
                yield from results if results is not None else self._collect(index, batch)
        finally:  # the caller stopped early (or failed): no worker keeps reading for nobody
            for future in batch.futures:
                if future is not None:
                    future.cancel()

    def _executor_for(self, documents: int) -> ProcessPoolExecutor | None:
        if self._broken or self.workers < 1 or documents < max(self.min_documents, 2):
            return None
        if self._executor is None:
            try:
                context = multiprocessing.get_context("spawn")
                # Frozen after start-up, the worker's modules are no longer scanned by every full collection
                # of the garbage its reading leaves (about a tenth of the reading time otherwise).
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=context, initializer=gc.freeze
                )
            except (OSError, ValueError, NotImplementedError) as error:  # no processes here: read in-process
                logger.warning("cannot start CAP reading workers (%s); reading in this process", error)
                self._broken = True
                return None
        return self._executor

    def _submit(
        self, executor: ProcessPoolExecutor, chunks: list[list[Document]]
    ) -> list[Future[list[CapReadResult]] | None]:
        futures: list[Future[list[CapReadResult]] | None] = [None] * len(chunks)
        try:
            for index, chunk in enumerate(chunks):
                future = executor.submit(read_chunk, chunk, self.max_bytes)
                future.add_done_callback(self._note_delivery)
                futures[index] = future
        except (BrokenProcessPool, RuntimeError) as error:
            self._give_up(error)
        return futures

    def _collect(self, index: int, batch: _Batch) -> list[CapReadResult]:
        """Results of chunk ``index``. While a worker is still on it, this process reads the last chunk no
        worker has taken (kept for its turn) rather than wait idle."""
        chunk, future = batch.chunks[index], batch.futures[index]
        while True:
            if future is None or (self.share_work and future.cancel()):  # no worker took it: read it here
                return read_chunk(chunk, self.max_bytes)
            if future.done() or not self.share_work:
                return self._result(chunk, future)
            if not self._started:
                # Queued for a worker that is still starting: reading it here is sooner. The worker's copy
                # of the result, identical, is dropped when it arrives.
                return read_chunk(chunk, self.max_bytes)
            if not self._read_last_untaken(index, batch):
                return self._result(chunk, future)

    def _read_last_untaken(self, index: int, batch: _Batch) -> bool:
        while batch.tail > index:
            later, batch.tail = batch.tail, batch.tail - 1
            future = batch.futures[later]
            if future is not None and future.cancel():
                batch.read_here[later] = read_chunk(batch.chunks[later], self.max_bytes)
                return True
        return False

    def _result(self, chunk: list[Document], future: Future[list[CapReadResult]]) -> list[CapReadResult]:
        try:
            results = future.result()
        except BrokenProcessPool as error:
            self._give_up(error)
            return read_chunk(chunk, self.max_bytes)
        except Exception as error:  # e.g. a result that cannot cross the process boundary
            logger.warning(
                "a CAP reading worker failed on %s (%s: %s); read again in this process",
                chunk[0][1],
                type(error).__name__,
                error,
            )
            return read_chunk(chunk, self.max_bytes)
        if len(results) != len(chunk):  # cannot happen with read_chunk; never trust it blindly either
            return read_chunk(chunk, self.max_bytes)
        self.pooled_documents += len(chunk)
        return results

    def _note_delivery(self, future: Future[list[CapReadResult]]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._started = True

    def _give_up(self, error: BaseException) -> None:
        if not self._broken:
            logger.warning("CAP reading workers stopped (%s); reading the rest in this process", error)
        self._broken = True
        if self._executor is not None:  # stop it now; close() still waits for its processes to end
            self._executor.shutdown(wait=False, cancel_futures=True)
