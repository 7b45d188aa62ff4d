"""A token bucket per route: the sustained rate a route's contract allows, with a short burst.

Tokens refill continuously and are capped at the burst, so an engine that fell behind (a slow database
write, a loaded machine) never makes up for it with a flood: over any window the route sends at most
``rate × window + burst``.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        """``rate`` tokens per second (0 = unlimited), holding at most ``burst`` tokens; starts full."""
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def available(self) -> float:
        if self.unlimited:
            return float("inf")
        self._refill()
        return self._tokens

    def try_take(self, cost: float) -> bool:
        """Take ``cost`` tokens if there are that many. A cost above the burst is charged once the bucket
        is full (the bucket goes negative), so an oversized message still goes, at the sustained rate."""
        if self.unlimited:
            return True
        self._refill()
        if self._tokens >= min(cost, self.burst):
            self._tokens -= cost
            return True
        return False

    def wait_time(self, cost: float) -> float:
        """Seconds until :meth:`try_take` of ``cost`` can succeed."""
        if self.unlimited:
            return 0.0
        self._refill()
        missing = min(cost, self.burst) - self._tokens
        return max(0.0, missing / self.rate)
