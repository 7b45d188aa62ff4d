"""Reading many CAP documents on several cores, results handed back in input order.

Guarding, parsing, checking and building alerts is pure CPU work, so one ``alertcast ingest`` of a folder
can read documents in worker processes while this process stores what has been read. Workers live as long
as the pool and are forked where that is safe (this process runs no other thread: a forked child is
reading within milliseconds and shares the compiled schemas), else spawned (a few tenths of a second to
import the reader; a lock held by another thread must never be forked).

Workers claim chunks of a batch from its front; this process, which stores each result as its turn comes,
claims too whenever the chunk it needs next is not ready: that chunk itself if nobody has taken it, else
the last free one (:mod:`alertcast.cap.pool_worker`). Nobody waits while work is left, and a worker still
starting costs nothing: it just claims nothing yet. A batch reaches the workers as a file, so no worker
can block this process on a full pipe. Small batches (under ``MIN_DOCUMENTS`` and ``MIN_BYTES``),
single-CPU machines and machines whose other CPUs are busy do not start a pool at all.

Whatever goes wrong in a worker, no document is lost and nothing new reaches the user: a chunk a worker
could not read or send is read here, and a worker that dies or stalls (or dies holding the claims' lock)
stops the pool: every chunk not yet delivered, and every later batch, is read in this process, giving
exactly the in-process results. Waiting for workers to deliver has a deadline (``STALL_SECONDS``), and
workers end when this process does, however it ends.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, TypeVar

from alertcast.cap.guard import DEFAULT_MAX_BYTES
from alertcast.cap.pool_worker import (
    READY,
    Claims,
    ClaimsLost,
    Document,
    chunk_documents,
    fork_is_safe,
    serve,
)
from alertcast.cap.reader import read_cap
from alertcast.cap.results import CapReadResult

logger = logging.getLogger(__name__)
T = TypeVar("T")

MIN_DOCUMENTS = 128
MIN_BYTES = 2_000_000
"""Batches of fewer documents than ``MIN_DOCUMENTS`` and fewer bytes than this are read in this process.
Starting workers (a fork, and the pages both processes then copy) costs about as much as reading 90
documents of the CAP corpus (1.5 MB). Measured on two cores, one ingest with a fresh pool against one
in-process: 49 documents 118-150 ms against 78-112, the 98-document corpus 165-187 against 178-220,
twice that 265-291 against 343-369."""
MAX_WORKERS = 4
STALL_SECONDS = 120.0
"""Workers that deliver nothing this long while owing results are given up (reading one chunk takes
milliseconds); the rest is read here, so a hung worker cannot hang an ingest."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def spare_workers() -> int:
    """Workers worth starting now: one per CPU beyond this process's own that other work leaves free, at
    most ``MAX_WORKERS``.

    Measured on two cores with the other one busy, a worker only takes CPU time from the process that
    stores: a pooled ingest of 196 documents took 401 ms against 352 in-process."""
    cpus = available_cpus()
    return max(0, min(cpus - 1, MAX_WORKERS, round(cpus - 1 - busy_elsewhere())))


def busy_elsewhere() -> float:
    """CPUs that other work keeps busy: the 1-minute load average, but no more than the tasks runnable
    right now besides this one.

    The load average alone counts this process's own work: a relay that has been ingesting for a minute
    would see its own load and never use the idle core beside it."""
    try:
        average = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        return 0.0
    runnable = runnable_tasks()
    return average if runnable is None else min(average, max(0, runnable - 1))


def runnable_tasks() -> int | None:
    """Tasks runnable at this moment, this one included (Linux's ``/proc/loadavg``; None elsewhere)."""
    try:
        with open("/proc/loadavg") as loadavg:
            return int(loadavg.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def read_chunk(documents: list[Document], max_bytes: int = DEFAULT_MAX_BYTES) -> list[CapReadResult]:
    """Read ``documents`` in order; what a worker runs (read_cap itself never raises for bad input)."""
    return [read_cap(data, source=source, max_bytes=max_bytes) for data, source in documents]


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    commands: Connection
    results: Connection
    idle: bool = False
    """Started and holding no batch: the next batch (or the current one, if chunks are left) goes to it."""
    batch: int = 0
    """The last batch it was sent; it owes results of that batch until it says it is done with it."""
    owes: bool = False


class CapReadPool:
    """Reads batches of CAP documents, in worker processes when the batch is big enough to pay for them.

    Use as a context manager (``with CapReadPool() as pool: for result in pool.read(docs): ...``); the
    workers are started on the first batch that needs them and stopped on exit. ``workers`` defaults to
    :func:`spare_workers`; ``workers=0`` never starts any. ``pooled_documents`` counts the documents
    workers read (the rest were read here). With ``share_work=False`` this process reads nothing a working
    pool could: every document of a pooled batch is read by a worker (what happens is then the same on
    every run). ``start_method`` forces ``fork`` or ``spawn``; by default workers are forked when this
    process runs no other thread.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        min_documents: int = MIN_DOCUMENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        share_work: bool = True,
        start_method: str | None = None,
    ) -> None:
        self.workers = spare_workers() if workers is None else workers
        self.min_documents = min_documents
        self.max_bytes = max_bytes
        self.share_work = share_work
        self.start_method = start_method
        self.pooled_documents = 0
        self._broken = False
        self._started = False
        self._closed = False
        self._workers: list[_Worker] = []
        self._claims: Claims | None = None
        self._folder: str | None = None
        """Where each batch is written for the workers to load."""
        self._remove_folder: Callable[[], object] = lambda: None
        """Removes it: on close, or at exit for a pool its owner never closed (its daemon workers end then
        too)."""
        self._batch = 0
        self._open = False
        self._chunks: list[list[Document]] = []
        self._ready: dict[int, list[CapReadResult]] = {}

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
        """Stop the workers: each ends after the chunk it is on. Later batches are read in this process."""
        self._closed = True
        self._end_batch()
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.commands.send(None)
        self._stop_workers(kill=False)
        self._remove_folder()

    def read(self, documents: Sequence[Document]) -> Iterator[CapReadResult]:
        """One result per document, in input order, each as soon as it and all before it are read.

        A pool reads one batch at a time: starting another ``read`` ends the batch of an earlier one
        still open, and resuming that earlier one then raises RuntimeError (as does one resumed after
        ``close``) rather than hand out results that are not its own."""
        if not self._pooled(documents):
            for data, source in documents:
                yield read_cap(data, source=source, max_bytes=self.max_bytes)
            return
        mine = self._begin_batch(documents)
        try:
            for index in range(len(self._chunks)):
                yield from self._results(index)
                if self._batch != mine or not self._open:
                    raise RuntimeError("this CAP reading batch was ended by a later read() or by close()")
        finally:  # done, or the caller stopped early: no worker goes on reading for nobody
            if self._batch == mine:
                self._end_batch()

    def _pooled(self, documents: Sequence[Document]) -> bool:
        if self._broken or self._closed or self.workers < 1 or len(documents) < 2:
            return False
        if len(documents) < self.min_documents and sum(len(data) for data, _ in documents) < MIN_BYTES:
            return False
        if not self._started:
            self._started = True
            self._start_workers()
        return bool(self._workers)

    def _start_workers(self) -> None:
        forking = self.start_method == "fork" or (self.start_method is None and fork_is_safe())
        context = multiprocessing.get_context("fork" if forking else "spawn")
        self._claims = Claims(context)
        self._folder = tempfile.mkdtemp(prefix="alertcast-reading-")
        self._remove_folder = weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        # Frozen across the fork, this process's heap is not walked by the children's collector, so the
        # pages they share with it stay shared. Ctrl-C is blocked while a worker starts, so that one still
        # importing (spawned) is not stopped with a traceback; it ignores Ctrl-C once it runs.
        thaw = forking and not gc.get_freeze_count()
        if forking:
            gc.freeze()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for _ in range(self.workers):
                if not self._start_worker(context, forking):
                    return
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            if thaw:
                gc.unfreeze()

    def _start_worker(self, context: Any, forking: bool) -> bool:
        commands_in, commands_out = context.Pipe(duplex=False)
        results_in, results_out = context.Pipe(duplex=False)
        # A forked worker holds copies of this process's ends of its pipes and of every earlier worker's;
        # it closes them first, or this process's death would never end the worker's pipes (nor it).
        ours = [commands_out, results_in] + [end for w in self._workers for end in (w.commands, w.results)]
        process = context.Process(
            target=serve,
            args=(self._claims, commands_in, results_out, read_chunk, ours if forking else ()),
            daemon=True,
        )
        try:
            process.start()
        except OSError as error:
            for end in (commands_in, commands_out, results_in, results_out):
                end.close()
            self._give_up(f"cannot start CAP reading workers ({error})")
            return False
        commands_in.close()  # the worker holds these ends now: its exit ends our pipes
        results_out.close()
        self._workers.append(_Worker(process, commands_out, results_in))
        return True

    def _begin_batch(self, documents: Sequence[Document]) -> int:
        assert self._claims is not None and self._folder is not None
        self._end_batch()
        self._batch += 1
        readers = len(self._workers) + (1 if self.share_work else 0)
        self._chunks = chunk_documents(documents, readers=readers)
        self._ready = {}
        # The batch goes to the workers as a file: a message bigger than a pipe's buffer would block here
        # for as long as a worker did not read it.
        with open(self._batch_path(), "wb") as file:
            pickle.dump((self._chunks, self.max_bytes), file, pickle.HIGHEST_PROTOCOL)
        self._open = True
        self._claimed(lambda claims: claims.open(self._batch, len(self._chunks)))
        if self._broken:  # the claims' lock was lost: this batch is read here
            return self._batch
        self._poll(timeout=0)  # workers that finished the last batch since are idle again
        for worker in list(self._workers):
            if worker.idle:
                self._hand_batch(worker)
        return self._batch

    def _batch_path(self) -> str:
        assert self._folder is not None
        return os.path.join(self._folder, f"{self._batch}.pickle")

    def _end_batch(self) -> None:
        if self._open:
            self._claimed(lambda claims: claims.close())
            with contextlib.suppress(OSError):  # a worker that has it open reads on; one that has not, skips
                os.remove(self._batch_path())
        self._open = False
        self._chunks, self._ready = [], {}

    def _claimed(self, use: Callable[[Claims], T]) -> T | None:
        """``use`` the claims; None (and the pool given up) when their lock is lost to a dead worker."""
        if self._broken or self._claims is None:
            return None
        try:
            return use(self._claims)
        except ClaimsLost as error:
            self._give_up(str(error))
            return None

    def _hand_batch(self, worker: _Worker) -> None:
        try:
            # Its number too: a worker that finds the file gone (the batch ended first) still says it is
            # done with that batch, and so is counted idle again.
            worker.commands.send((self._batch, self._batch_path()))
        except OSError as error:
            self._give_up(f"a CAP reading worker stopped ({error})")
            return
        worker.idle, worker.batch, worker.owes = False, self._batch, True

    def _results(self, index: int) -> list[CapReadResult]:
        while index not in self._ready:
            if self._broken:  # whatever was not delivered is read here
                self._ready[index] = read_chunk(self._chunks[index], self.max_bytes)
                break
            # Take in what has arrived first: a worker's results are what this process needs soonest.
            if self._poll(timeout=0) and index in self._ready:
                break
            claimed = self._claimed(lambda claims: claims.needed(index)) if self.share_work else None
            if claimed is not None:
                self._ready[claimed] = read_chunk(self._chunks[claimed], self.max_bytes)
            elif not self._owed():  # nobody will deliver it
                self._ready[index] = read_chunk(self._chunks[index], self.max_bytes)
            elif not self._poll(timeout=STALL_SECONDS):
                self._give_up(f"CAP reading workers delivered nothing for {STALL_SECONDS:.0f} s")
        return self._ready.pop(index)

    def _owed(self) -> bool:
        """Whether a worker may still deliver a chunk of this batch: one holds the batch, or one that is
        starting or finishing the last batch may still claim a chunk of it."""
        if any(worker.owes and worker.batch == self._batch for worker in self._workers):
            return True
        return bool(self._workers) and bool(self._claimed(lambda claims: claims.left()))

    def _poll(self, *, timeout: float) -> bool:
        """Take in what the workers sent, waiting up to ``timeout`` for something; False when nothing came."""
        by_pipe = {worker.results: worker for worker in self._workers}
        if not by_pipe:
            return False
        ready = wait(list(by_pipe), timeout=timeout)
        for pipe in ready:
            worker = by_pipe[pipe]  # type: ignore[index]
            try:
                message = worker.results.recv()
            except (EOFError, OSError):
                self._give_up("a CAP reading worker stopped")
                return True
            except Exception as error:  # cannot happen with read_chunk; never trust it blindly either
                self._give_up(f"a CAP reading worker sent what cannot be read ({error})")
                return True
            self._take(worker, message)
            if self._broken:
                return True
        return bool(ready)

    def _take(self, worker: _Worker, message: object) -> None:
        if message == READY:
            self._now_idle(worker)
            return
        batch, index, results = message  # type: ignore[misc]
        if index is None:  # done with ``batch``
            if batch == worker.batch:
                worker.owes = False
            self._now_idle(worker)
        elif batch == self._batch and self._open:
            chunk = self._chunks[index]
            if results is None or len(results) != len(chunk):  # the worker could not read or send it
                self._ready[index] = read_chunk(chunk, self.max_bytes)
            else:
                self._ready[index] = results
                self.pooled_documents += len(results)

    def _now_idle(self, worker: _Worker) -> None:
        worker.idle = True
        if self._open and worker.batch != self._batch and self._claimed(lambda claims: claims.left()):
            self._hand_batch(worker)

    def _give_up(self, reason: str) -> None:
        """Stop every worker; what they did not deliver, and every later batch, is read here."""
        if not self._broken:
            logger.warning("%s; reading the rest in this process", reason)
        self._broken = True
        self._stop_workers(kill=True)

    def _stop_workers(self, *, kill: bool) -> None:
        for worker in self._workers:
            if kill:
                worker.process.kill()
            # Results nobody will take any more: closing our end lets a worker blocked sending them end.
            worker.results.close()
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.commands.close()
        self._workers = []
