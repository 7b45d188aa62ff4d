"""The drill sink: a channel that records what it would send instead of sending it.

Exercises, the demo and the engine's own tests need a transport that behaves like one (latency, a window,
temporary and permanent failures) but can never reach a phone. Failures are injected deterministically
from the delivery id so a test can predict exactly which deliveries fail.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alertcast.channels.base import (
    Channel,
    ChannelEvents,
    ChannelKind,
    OutboundMessage,
    Outcome,
    RouteState,
    SendResult,
)


@dataclass(frozen=True, slots=True)
class DrillFaults:
    """Failure injection. Fractions are of deliveries, chosen by ``delivery_id`` (no randomness)."""

    retry_fraction: float = 0.0
    """This share of deliveries fail temporarily on their first attempt only."""
    fail_fraction: float = 0.0
    """This share of deliveries fail permanently."""
    fail_prefixes: tuple[str, ...] = ()
    """Addresses starting with one of these fail permanently (e.g. an 'unknown subscriber' range)."""


def _bucket(delivery_id: int) -> float:
    """Spread ids evenly over [0, 1) so fractions are exact over any long run of consecutive ids."""
    return ((delivery_id * 2654435761) % 2**32) / 2**32


class DrillChannel(Channel):
    """Records messages (in memory, and as JSON lines when ``record_path`` is set) after ``latency`` s."""

    kind = ChannelKind.DRILL

    def __init__(
        self,
        name: str = "drill",
        *,
        latency: float = 0.0,
        window: int = 1000,
        faults: DrillFaults | None = None,
        record_path: Path | None = None,
        keep: int = 10_000,
    ) -> None:
        super().__init__(name, drill_route=True)
        self.latency = latency
        self.window = window
        self.faults = faults or DrillFaults()
        self.record_path = record_path
        self.sent: deque[OutboundMessage] = deque(maxlen=keep)
        self._seen_retry: set[int] = set()
        self._in_flight = 0
        self._events: ChannelEvents | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._running = False

    async def start(self, events: ChannelEvents) -> None:
        self._events = events
        self._running = True
        events.on_state(self.name, self.state)

    async def stop(self) -> None:
        self._running = False
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    def capacity(self) -> int:
        return max(0, self.window - self._in_flight) if self._running else 0

    @property
    def state(self) -> RouteState:
        return RouteState(True) if self._running else RouteState(False, "stopped")

    def send(self, messages: Sequence[OutboundMessage]) -> None:
        if not messages:
            return
        self.stats.handed += len(messages)
        self._in_flight += len(messages)
        if self.latency <= 0:
            self._complete(messages)
            return
        task = asyncio.get_running_loop().create_task(self._after_latency(list(messages)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _after_latency(self, messages: list[OutboundMessage]) -> None:
        try:
            await asyncio.sleep(self.latency)
        except asyncio.CancelledError:
            self._in_flight -= len(messages)
            self._report(
                [SendResult(m.delivery_id, Outcome.REQUEUE, error="drill sink stopped") for m in messages]
            )
            raise
        self._complete(messages)

    def _complete(self, messages: Sequence[OutboundMessage]) -> None:
        self._in_flight -= len(messages)
        results = [self._outcome(m) for m in messages]
        recorded = [m for m, r in zip(messages, results, strict=True) if r.outcome is Outcome.DELIVERED]
        self.sent.extend(recorded)
        if self.record_path is not None and recorded:
            with self.record_path.open("a", encoding="utf-8") as out:
                for m in recorded:
                    out.write(json.dumps({"delivery": m.delivery_id, "to": m.address, "text": m.text}) + "\n")
        self._report(results)

    def _outcome(self, message: OutboundMessage) -> SendResult:
        faults = self.faults
        did = message.delivery_id
        if message.address.startswith(faults.fail_prefixes) if faults.fail_prefixes else False:
            self.stats.failed += 1
            return SendResult(did, Outcome.FAILED, error="drill: injected permanent failure (address)")
        bucket = _bucket(did)
        if bucket < faults.fail_fraction:
            self.stats.failed += 1
            return SendResult(did, Outcome.FAILED, error="drill: injected permanent failure")
        if bucket < faults.fail_fraction + faults.retry_fraction and did not in self._seen_retry:
            self._seen_retry.add(did)
            self.stats.retried += 1
            return SendResult(did, Outcome.RETRY, error="drill: injected temporary failure")
        self.stats.submitted += 1
        return SendResult(did, Outcome.DELIVERED, provider_id=f"drill-{did}")

    def _report(self, results: list[SendResult]) -> None:
        if self._events is not None and results:
            self._events.on_results(self.name, results)
