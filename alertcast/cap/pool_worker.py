"""The reading workers' side of :mod:`alertcast.cap.pool`: chunks, shared claims, and the worker loop.

A batch is cut into chunks of consecutive documents. Workers claim chunks from the front of the batch;
the storing process, whenever the one it needs next is not ready, claims that one if nobody has, else
the last free one; all through three integers in shared memory under one lock. Nothing else is waited
on, so whoever is free reads, a worker that is still starting simply claims nothing yet, and the two
sides meet wherever the costs of the batch put them.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from alertcast.cap.results import CapReadResult

Document = tuple[bytes, str]
"""The document's bytes and its source (file path or URL), as :func:`~alertcast.cap.read_cap` takes them."""
ReadChunk = Callable[[list[Document], int], list[CapReadResult]]

CHUNKS_PER_READER = 16
MAX_CHUNK = 8
MIN_CHUNK_BYTES = 16_384

LOCK_SECONDS = 10.0
"""The longest anyone waits for the claims' lock; it is held for a few instructions at a time."""
SENDER_GRACE_SECONDS = 1.0
READY = "ready"
"""A worker's first message: it is started and waits for a batch."""


def chunk_documents(documents: Sequence[Document], *, readers: int) -> list[list[Document]]:
    """Consecutive documents in chunks of about equal size in bytes (reading time follows size): a
    national alert or a long index feed is a chunk of its own, never the tail that all others wait on."""
    total = sum(len(data) for data, _ in documents)
    budget = max(MIN_CHUNK_BYTES, total // (readers * CHUNKS_PER_READER))
    chunks: list[list[Document]] = []
    chunk: list[Document] = []
    size = 0
    for document in documents:
        if chunk and (size + len(document[0]) > budget or len(chunk) == MAX_CHUNK):
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(document)
        size += len(document[0])
    if chunk:
        chunks.append(chunk)
    return chunks


class ClaimsLost(RuntimeError):
    """The claims' lock could not be had: a process holding it died (or froze) there."""


class Claims:
    """Which chunks of the current batch are still free; shared by the storing process and its workers.

    Every use of the lock has a deadline: a worker killed while holding it would otherwise leave everyone
    waiting for it forever."""

    def __init__(self, context: Any) -> None:
        self._lock = context.Lock()
        self._batch = context.RawValue("q", 0)
        self._front = context.RawValue("q", 0)
        self._back = context.RawValue("q", 0)

    def _locked(self) -> None:
        if not self._lock.acquire(timeout=LOCK_SECONDS):
            raise ClaimsLost("the lock on the reading claims is held by a process that stopped")

    def open(self, batch: int, chunks: int) -> None:
        self._locked()
        try:
            self._batch.value, self._front.value, self._back.value = batch, 0, chunks
        finally:
            self._lock.release()

    def front(self, batch: int) -> int | None:
        """A worker's claim: the first free chunk of ``batch`` (None once the batch is over or taken)."""
        self._locked()
        try:
            if self._batch.value != batch or self._front.value >= self._back.value:
                return None
            self._front.value += 1
            return int(self._front.value - 1)
        finally:
            self._lock.release()

    def needed(self, index: int) -> int | None:
        """The storing process's claim while it waits for chunk ``index``: that chunk itself if nobody has
        taken it yet (so results keep coming in order), else the last free one (None when none is free)."""
        self._locked()
        try:
            if self._front.value >= self._back.value:
                return None
            if self._front.value == index:
                self._front.value += 1
                return index
            self._back.value -= 1
            return int(self._back.value)
        finally:
            self._lock.release()

    def left(self) -> int:
        """Chunks of the current batch nobody has claimed yet."""
        self._locked()
        try:
            return max(0, int(self._back.value - self._front.value))
        finally:
            self._lock.release()

    def close(self) -> None:
        """No more claims in this batch: workers stop after the chunk they are on."""
        self._locked()
        try:
            self._back.value = self._front.value
        finally:
            self._lock.release()


def _batch_chunks(path: str) -> tuple[list[list[Document]], int] | None:
    """The chunks and size limit of the batch written to ``path``; None when it has already ended (the
    storing process removed the file before this worker got to it)."""
    try:
        with open(path, "rb") as file:
            return pickle.load(file)  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def serve(
    claims: Claims,
    commands: Connection,
    results: Connection,
    read: ReadChunk,
    inherited: Sequence[Connection] = (),
) -> None:
    """A worker's whole life: say it is ready, then for each batch it is told of claim, read and send
    until nothing is left, and say so. Ends when told to (None), or when the storing process is gone.

    A batch comes as its number and the path of a file holding it, never through the pipe: a message bigger than the
    pipe's buffer would block the storing process for as long as this worker did not read. Results go out
    through a thread of the worker's own, so it reads on while the storing process is busy storing rather
    than taking them in (a pipe holds only 64 KB; one national alert is more). ``inherited`` are the
    storing process's ends of the pipes that a forked worker got a copy of: closed first, so that the
    storing process's death ends this worker's pipes, and with them the worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the storing process's to handle
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked while this process started
    for connection in inherited:
        connection.close()
    # Whatever the worker holds now (the modules, or a forked copy of the storing process) lives as long as
    # it does: frozen, it is never walked by the collector (and, when forked, never copied by walking it).
    gc.freeze()
    outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def send() -> None:
        try:
            while (payload := outbox.get()) is not None:
                results.send_bytes(payload)
        except OSError:  # the storing process is gone, or stopped listening
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    outbox.put(pickle.dumps(READY))
    with contextlib.suppress(ClaimsLost):  # a worker died holding the lock: the storing process gives up
        _serve_batches(claims, commands, read, outbox)
    outbox.put(None)
    sender.join(timeout=SENDER_GRACE_SECONDS)  # results nobody reads any more are not worth waiting for


def _serve_batches(
    claims: Claims, commands: Connection, read: ReadChunk, outbox: queue.SimpleQueue[bytes | None]
) -> None:
    while True:
        try:
            message = commands.recv()
        except Exception:  # EOF or a broken message: the storing process is gone or gave up on us
            return
        if message is None:
            return
        number, path = message
        batch = _batch_chunks(path)
        if batch is None:  # the batch ended before this worker got to it: nothing to claim
            outbox.put(pickle.dumps((number, None, None)))
            continue
        chunks, max_bytes = batch
        while (index := claims.front(number)) is not None:
            try:
                payload = pickle.dumps(
                    (number, index, read(chunks[index], max_bytes)), pickle.HIGHEST_PROTOCOL
                )
            except Exception:  # unreadable or unpicklable here: the storing process reads the chunk itself
                payload = pickle.dumps((number, index, None))
            outbox.put(payload)
        outbox.put(pickle.dumps((number, None, None)))  # done with this batch


def fork_is_safe() -> bool:
    """Whether workers may be forked: only from a process running no other thread (a lock held by a
    thread at the fork would stay held in the child forever), and where the platform forks at all.

    The same rule as the contacts pool's (``services.worker_pool``), repeated there so that importing it
    does not load the CAP reading stack."""
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
