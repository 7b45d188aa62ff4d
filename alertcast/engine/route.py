"""One route at run time: its channel, rate limit, small buffer of claimed work, health and counters."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field

from alertcast.channels.base import Channel, RouteState
from alertcast.core.sms import sms_stats
from alertcast.engine.config import RouteSettings
from alertcast.engine.ratelimit import TokenBucket
from alertcast.store.outbox import ClaimedDelivery

RAMP_START = 32


@dataclass
class RouteCounters:
    handed: int = 0
    submitted: int = 0
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    requeued: int = 0
    refused: int = 0
    """Deliveries refused at the last step (a drill on a live route, live work on a drill-only route)."""
    last_handed: int = 0
    last_at: float = field(default_factory=time.monotonic)

    def rate(self) -> float:
        """Handed per second since the previous call (called once per progress interval)."""
        now = time.monotonic()
        elapsed = max(1e-6, now - self.last_at)
        value = (self.handed - self.last_handed) / elapsed
        self.last_handed, self.last_at = self.handed, now
        return value


class RouteRuntime:
    def __init__(
        self, settings: RouteSettings, channel: Channel, cooldown: float, requeue_limit: int
    ) -> None:
        self.settings = settings
        self.channel = channel
        self.name = settings.name
        self.bucket = TokenBucket(settings.rate, settings.effective_burst)
        self.buffer: deque[ClaimedDelivery] = deque()
        self.in_flight = 0
        """Handed to the channel, no result yet."""
        self.unflushed = 0
        """Results received but not yet written: still CLAIMED in the database."""
        self.counters = RouteCounters()
        self.wake = asyncio.Event()
        self.degraded_until = 0.0
        self.degraded_reason = ""
        self._cooldown = cooldown
        self._requeue_limit = requeue_limit
        self._requeue_streak = 0
        self._segments: dict[str, int] = {}
        self.peak_capacity = 0
        self.idle = False
        """The last claim found nothing and nothing is held: used by ``run --until-idle``."""
        self._kind_turn = 0
        self.ramp = RAMP_START

    # -- health -----------------------------------------------------------------------------------
    @property
    def state(self) -> RouteState:
        state = self.channel.state
        if state.up and time.monotonic() < self.degraded_until:
            return RouteState(False, self.degraded_reason)
        return state

    def usable(self) -> bool:
        return self.state.up

    def note_requeue(self, count: int) -> bool:
        """Count requeued results; True when the route just crossed into failover."""
        self._requeue_streak += count
        if self._requeue_streak >= self._requeue_limit and time.monotonic() >= self.degraded_until:
            self.degraded_until = time.monotonic() + self._cooldown
            self.degraded_reason = (
                f"{self._requeue_streak} messages handed back in a row; resting {self._cooldown:g} s"
            )
            self._requeue_streak = 0
            return True
        return False

    def note_success(self) -> None:
        self._requeue_streak = 0

    # -- what the route may carry ----------------------------------------------------------------
    def carries(self, kind: str, drill: bool) -> bool:
        allowed = (self.settings.drill and self.channel.drill_route) if drill else self.settings.live
        return kind in self.settings.kinds and allowed

    def kinds_in_turn(self) -> list[str]:
        """The route's kinds, starting one later each round, so no kind waits behind another forever."""
        kinds = list(self.settings.kinds)
        self._kind_turn = (self._kind_turn + 1) % len(kinds)
        return kinds[self._kind_turn :] + kinds[: self._kind_turn]

    # -- sizing ----------------------------------------------------------------------------------
    @property
    def held(self) -> int:
        return len(self.buffer) + self.in_flight + self.unflushed

    def claim_size(self, batch_size: int, horizon: float) -> int:
        """How many to claim now: what the window can take, at most ``horizon`` seconds of the rate, and no
        more than one batch beyond the window in total, so urgent work is never stuck behind a big buffer."""
        capacity = self.channel.capacity()
        self.peak_capacity = max(self.peak_capacity, capacity + self.in_flight)
        size = min(batch_size, capacity)
        if not self.bucket.unlimited:
            size = min(size, max(1, math.ceil(self.bucket.rate * horizon)))
        size = min(size, self.peak_capacity + batch_size - self.held, self.ramp)
        return max(0, size)

    def claimed(self, count: int, batch_size: int) -> None:
        """Slow start: after an empty queue the first claim is small (it returns, and the first message
        leaves, sooner); each full claim doubles the next, up to the batch size."""
        self.ramp = RAMP_START if count == 0 else min(batch_size, max(self.ramp, count) * 2)

    def cost(self, delivery: ClaimedDelivery) -> int:
        """Tokens one message takes: its SMS segments on SMS routes that count them, else 1."""
        if not self.settings.count_segments or delivery.channel_kind != "sms":
            return 1
        text = delivery.text
        cached = self._segments.get(text)
        if cached is None:
            try:
                cached = sms_stats(text).segments
            except ValueError:
                cached = 1
            if len(self._segments) > 256:
                self._segments.clear()
            self._segments[text] = cached
        return cached
