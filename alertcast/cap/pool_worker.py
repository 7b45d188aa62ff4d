"""The reading workers' side of :mod:`alertcast.cap.pool`: chunks, shared claims, and the worker loop.

A batch is cut into chunks of consecutive documents. Workers claim chunks from the front of the batch
and the storing process claims them from the back whenever the one it needs next is not ready, through
three integers in shared memory under one lock; nothing else is ever waited on, so whoever is free reads,
a worker that is still starting simply claims nothing yet, and the two sides meet wherever the costs of
the batch put them.
"""

from __future__ import annotations

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


class Claims:
    """Which chunks of the current batch are still free; shared by the storing process and its workers."""

    def __init__(self, context: Any) -> None:
        self._lock = context.Lock()
        self._batch = context.RawValue("q", 0)
        self._front = context.RawValue("q", 0)
        self._back = context.RawValue("q", 0)

    def open(self, batch: int, chunks: int) -> None:
        with self._lock:
            self._batch.value, self._front.value, self._back.value = batch, 0, chunks

    def front(self, batch: int) -> int | None:
        """A worker's claim: the first free chunk of ``batch`` (None once the batch is over or taken)."""
        with self._lock:
            if self._batch.value != batch or self._front.value >= self._back.value:
                return None
            self._front.value += 1
            return int(self._front.value - 1)

    def back(self) -> int | None:
        """The storing process's claim: the last free chunk of the current batch."""
        with self._lock:
            if self._front.value >= self._back.value:
                return None
            self._back.value -= 1
            return int(self._back.value)

    def left(self) -> int:
        """Chunks of the current batch nobody has claimed yet."""
        with self._lock:
            return max(0, int(self._back.value - self._front.value))

    def close(self) -> None:
        """No more claims in this batch: workers stop after the chunk they are on."""
        with self._lock:
            self._back.value = self._front.value


def serve(claims: Claims, commands: Connection, results: Connection, read: ReadChunk) -> None:
    """A worker's whole life: say it is ready, then for each batch it is sent claim, read and send until
    nothing is left, and say so. Ends when told to (None) or when the storing process is gone.

    Results go out through a thread of the worker's own, so it reads on while the storing process is busy
    storing rather than taking them in (a pipe holds only 64 KB; one national alert is more)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the storing process's to handle
    # Whatever the worker holds now (the modules, or a forked copy of the storing process) lives as long as
    # it does: frozen, it is never walked by the collector (and, when forked, never copied by walking it).
    gc.freeze()
    outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def send() -> None:
        try:
            while (payload := outbox.get()) is not None:
                results.send_bytes(payload)
        except OSError:  # the storing process is gone
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    outbox.put(pickle.dumps(READY))
    while True:
        try:
            message = commands.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        batch, chunks, max_bytes = message
        while (index := claims.front(batch)) is not None:
            try:
                payload = pickle.dumps(
                    (batch, index, read(chunks[index], max_bytes)), pickle.HIGHEST_PROTOCOL
                )
            except Exception:  # unreadable or unpicklable here: the storing process reads the chunk itself
                payload = pickle.dumps((batch, index, None))
            outbox.put(payload)
        outbox.put(pickle.dumps((batch, None, None)))  # done with this batch
    outbox.put(None)
    sender.join()


def fork_is_safe() -> bool:
    """Whether workers may be forked: only from a process running no other thread (a lock held by a
    thread at the fork would stay held in the child forever), and where the platform forks at all.

    The same rule as the contacts pool's (``services.worker_pool``), repeated there so that importing it
    does not load the CAP reading stack."""
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
