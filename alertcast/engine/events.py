"""Progress events: an in-process publish/subscribe that never slows the engine down.

The engine publishes what it already knows (per route and per broadcast) a few times a second. A
subscriber that reads slowly does not hold anything up: events with the same key replace each other, so a
subscriber always gets the latest state of each broadcast and route, never a backlog. Callbacks run on the
engine's loop thread and must return quickly (a Textual app calls ``post_message``, which is thread-safe).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouteProgress:
    route: str
    up: bool
    reason: str
    kinds: tuple[str, ...]
    buffered: int
    """Claimed by this engine, waiting for the rate limit or the channel's window."""
    in_flight: int
    """Handed to the channel, result not yet known."""
    handed: int
    submitted: int
    delivered: int
    failed: int
    retried: int
    requeued: int
    rate: float
    """Messages handed per second over the last interval."""

    @property
    def key(self) -> tuple[str, str]:
        return ("route", self.route)


@dataclass(frozen=True, slots=True)
class BroadcastProgress:
    broadcast_id: int
    queued: int
    """Deliveries waiting in the database (all engines), as of the last snapshot (a few seconds old)."""
    in_flight: int
    """Held by this engine: claimed or with a transport."""
    sent: int
    delivered: int
    failed: int
    expired: int
    cancelled: int
    rate: float
    """Deliveries finished per second by this engine over the last interval."""
    totals: dict[str, int] = field(default_factory=dict)
    """Per-state counts from the last database snapshot."""
    acked: int = 0
    """People who acknowledged, as of the last snapshot (deliveries in state ``acknowledged``)."""

    @property
    def key(self) -> tuple[str, int]:
        return ("broadcast", self.broadcast_id)


@dataclass(frozen=True, slots=True)
class EngineNotice:
    """Something an operator should see: a route went down, deliveries with no route, a refused drill."""

    level: str
    text: str

    @property
    def key(self) -> tuple[str, str]:
        return ("notice", self.text)


Event = RouteProgress | BroadcastProgress | EngineNotice


class Subscription:
    """Events for one reader, coalesced by key; bounded by the number of distinct keys (and ``limit``)."""

    def __init__(self, bus: EventBus, limit: int) -> None:
        self._bus = bus
        self._limit = limit
        self._pending: dict[Any, Event] = {}
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def _offer(self, event: Event) -> None:
        key = event.key
        if key not in self._pending and len(self._pending) >= self._limit:
            self._pending.pop(next(iter(self._pending)))
            self.dropped += 1
        self._pending[key] = event
        self._ready.set()

    def get_nowait(self) -> Event | None:
        if not self._pending:
            return None
        key = next(iter(self._pending))
        event = self._pending.pop(key)
        if not self._pending:
            self._ready.clear()
        return event

    async def get(self) -> Event:
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            self._ready.clear()
            await self._ready.wait()

    def close(self) -> None:
        self.closed = True
        self._bus._subscriptions.discard(self)


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._callbacks: list[Callable[[Event], None]] = []

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscriptions or self._callbacks)

    def subscribe(self, *, limit: int = 1024) -> Subscription:
        """A subscription read with ``await sub.get()``; create it on the engine's event loop."""
        subscription = Subscription(self, limit)
        self._subscriptions.add(subscription)
        return subscription

    def subscribe_callback(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def publish(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            subscription._offer(event)
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:  # a subscriber's bug must not stop deliveries
                log.exception("event subscriber failed on %r", event)
