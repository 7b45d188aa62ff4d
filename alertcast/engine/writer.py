"""Batching results and receipts to the store: collect for a few milliseconds (or up to N), then write
them in one transaction, one write at a time.

Receipts that match no delivery yet are held and offered again with later batches: an SMSC may send the
receipt before the engine has recorded the submit response carrying the same id. They are held in memory
for ``receipt_hold_seconds``; if the engine dies meanwhile, the delivery stays SUBMITTED (sent, outcome
unknown), which is what the report then says.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alertcast.engine.storeio import StoreWorker
from alertcast.store.outbox import (
    ReceiptRecord,
    RecordSummary,
    ResultKind,
    ResultRecord,
    RetryPolicy,
    record_results,
)

log = logging.getLogger(__name__)

GIVE_UP_AFTER = 30
"""Consecutive failed writes of one batch before it is dropped (about 45 s of retrying)."""


@dataclass
class WriterCounters:
    batches: int = 0
    applied: int = 0
    stale: int = 0
    receipts_matched: int = 0
    receipts_dropped: int = 0


class ResultWriter:
    def __init__(
        self,
        store: StoreWorker,
        owner: str,
        policy: RetryPolicy,
        *,
        flush_seconds: float,
        flush_max: int,
        hold_seconds: float,
        on_written: Callable[[Sequence[tuple[str | None, ResultRecord]]], None],
    ) -> None:
        self._store = store
        self._owner = owner
        self._policy = policy
        self._flush_seconds = flush_seconds
        self._flush_max = flush_max
        self._hold_seconds = hold_seconds
        self._on_written = on_written
        self._results: list[tuple[str | None, ResultRecord]] = []
        self._receipts: list[ReceiptRecord] = []
        self._held: list[tuple[float, ReceiptRecord]] = []
        self._retry_held = False
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.counters = WriterCounters()
        self.failure: BaseException | None = None
        self._failures = 0

    @property
    def pending(self) -> int:
        return len(self._results) + len(self._receipts)

    @property
    def held_receipts(self) -> int:
        return len(self._held)

    def add(self, route: str | None, record: ResultRecord) -> None:
        self._results.append((route, record))
        if record.kind is ResultKind.SUBMITTED:
            self._retry_held = True
        self._schedule()

    def add_receipts(self, receipts: Sequence[ReceiptRecord]) -> None:
        self._receipts.extend(receipts)
        self._schedule()

    def retry_held(self) -> None:
        """Offer held receipts again (another engine may have recorded their submits meanwhile)."""
        if self._held:
            self._retry_held = True
            self._schedule()

    def _schedule(self) -> None:
        if self._task is not None and not self._task.done():
            return  # the running flush loops until nothing is pending
        if self.pending >= self._flush_max or (self._retry_held and not self.pending):
            self._start()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_seconds, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="alertcast-writer")

    async def _run(self) -> None:
        while self.pending or (self._retry_held and self._held):
            results, self._results = self._results[: self._flush_max], self._results[self._flush_max :]
            receipts, self._receipts = self._receipts, []
            now = time.monotonic()
            if self._retry_held or receipts:
                kept = [(t, r) for t, r in self._held if now - t < self._hold_seconds]
                self.counters.receipts_dropped += len(self._held) - len(kept)
                receipts = [r for _, r in kept] + receipts
                first_seen = {id(r): t for t, r in kept}
                self._held = []
            else:
                first_seen = {}
            self._retry_held = False
            try:
                summary: RecordSummary = await self._store.call(
                    record_results, self._owner, [r for _, r in results], receipts, policy=self._policy
                )
            except Exception as exc:
                self.failure = exc
                self._failures += 1
                if self._failures < GIVE_UP_AFTER:
                    # Usually passing (a locked database, a dropped connection): keep the batch and retry.
                    log.warning("could not record %d results (%s); retrying", len(results), exc)
                    self._results[:0] = results
                    self._receipts[:0] = receipts
                    await asyncio.sleep(min(2.0, 0.1 * self._failures))
                    continue
                # The rows stay CLAIMED by this engine; after it stops they come back as possible duplicates.
                log.exception("gave up recording %d results", len(results))
                self._failures = 0
                self._on_written(results)
                continue
            self._failures = 0
            self.counters.batches += 1
            self.counters.applied += summary.applied
            self.counters.stale += summary.stale
            self.counters.receipts_matched += summary.receipts_matched
            self._held.extend((first_seen.get(id(r), now), r) for r in summary.unmatched_receipts)
            self._on_written(results)

    async def drain(self) -> None:
        """Write everything pending now (graceful stop)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while True:
            if self._task is not None and not self._task.done():
                await self._task
            if not self.pending:
                return
            self._start()
