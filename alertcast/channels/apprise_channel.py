"""The Apprise channel: e-mail, chat and web hooks, the fallback when SMS cannot reach someone.

Apprise's ``notify`` blocks (SMTP dialogues, HTTP posts), so sends run on a small pool of owner threads,
``concurrency`` at a time; each thread reports back with ``loop.call_soon_threadsafe`` and nothing else is
shared. One Apprise object per recipient gives one result per recipient (see :mod:`apprise_send`), and
results are mapped to DELIVERED (mail accepted by the server, web hook 2xx), RETRY (connection refused,
time-out, 5xx, SMTP 4xx) or FAILED (invalid address or URL, refused scheme or destination, 4xx, SMTP 5xx).

A drill is only sent when the route is marked for drills; any other route hands it back untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import apprise

from alertcast.channels.apprise_config import AppriseSettings
from alertcast.channels.apprise_outcome import enable_detail_capture
from alertcast.channels.apprise_send import deliver, make_asset
from alertcast.channels.base import (
    Channel,
    ChannelEvents,
    ChannelKind,
    OutboundMessage,
    Outcome,
    RouteState,
    SendResult,
)

log = logging.getLogger(__name__)

__all__ = ["AppriseChannel", "AppriseSettings"]


def _load_plugins() -> None:
    """Apprise imports its ~150 plugin modules on first use; do it once at start, off the loop, so the
    first recipient does not pay for it and an import problem shows at start rather than mid-broadcast."""
    apprise.Apprise.instantiate("json://localhost/")


class AppriseChannel(Channel):
    kind = ChannelKind.APPRISE

    def __init__(self, name: str, settings: AppriseSettings, *, drill_route: bool = False) -> None:
        super().__init__(name, drill_route=drill_route)
        self.settings = settings
        self._asset = make_asset(settings)
        self._events: ChannelEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._active: dict[int, tuple[OutboundMessage, Future[SendResult]]] = {}
        self._outbox: list[SendResult] = []
        self._flush_scheduled = False
        self._idle = asyncio.Event()
        self._running = False

    # -- Channel interface ---------------------------------------------------------------------------------

    async def start(self, events: ChannelEvents) -> None:
        self._events = events
        self._loop = asyncio.get_running_loop()
        enable_detail_capture()
        await asyncio.to_thread(_load_plugins)
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix=f"alertcast-apprise-{self.name}"
        )
        self._running = True
        events.on_state(self.name, self.state)

    async def stop(self) -> None:
        """Hand back what has not started as REQUEUE; give sends under way ``stop_grace`` seconds, then hand
        them back as possible duplicates (the mail may already be with the server)."""
        if not self._running and self._pool is None:
            return
        self._running = False
        for _, future in list(self._active.values()):
            future.cancel()  # only those still waiting for a thread; their callbacks report REQUEUE
        await asyncio.sleep(0)
        if self._active:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=self.settings.stop_grace)
        for delivery_id in list(self._active):
            self._active.pop(delivery_id)
            self.stats.requeued += 1
            self._report(
                SendResult(
                    delivery_id,
                    Outcome.REQUEUE,
                    error="channel stopped while sending",
                    possible_duplicate=True,
                )
            )
        self._flush()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._events is not None:
            self._events.on_state(self.name, self.state)

    def capacity(self) -> int:
        return max(0, self.settings.concurrency - len(self._active)) if self._running else 0

    @property
    def state(self) -> RouteState:
        return RouteState(True) if self._running else RouteState(False, "stopped")

    def send(self, messages: Sequence[OutboundMessage]) -> None:
        self.stats.handed += len(messages)
        for message in messages:
            if message.drill and not self.drill_route:
                self._requeue(message, f"route {self.name} is not marked for drills: drill not sent")
            elif not self._running or self._pool is None:
                self._requeue(message, "channel stopped")
            elif message.delivery_id in self._active:
                log.warning(
                    "apprise route %s: delivery %d handed twice; ignored", self.name, message.delivery_id
                )
            else:
                future = self._pool.submit(deliver, message, self.settings, self._asset)
                self._active[message.delivery_id] = (message, future)
                future.add_done_callback(self._from_thread)

    # -- results -------------------------------------------------------------------------------------------

    def _from_thread(self, future: Future[SendResult]) -> None:
        """Runs on the worker thread (or the loop, for a cancelled future): cross over to the loop."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the result was handed back at stop
                loop.call_soon_threadsafe(self._finished, future)

    def _finished(self, future: Future[SendResult]) -> None:
        found = next((d for d, (_, f) in self._active.items() if f is future), None)
        if found is None:
            return  # already handed back as REQUEUE at stop
        message, _ = self._active.pop(found)
        if future.cancelled():
            result = SendResult(found, Outcome.REQUEUE, error="channel stopped before sending")
        elif (exc := future.exception()) is not None:
            log.error("apprise route %s: send of delivery %d raised %r", self.name, found, exc)
            result = SendResult(found, Outcome.RETRY, error=f"unexpected error in Apprise: {exc!r}"[:300])
        else:
            result = future.result()
        self._count(result, message)
        self._report(result)
        if not self._active:
            self._idle.set()

    def _count(self, result: SendResult, message: OutboundMessage) -> None:
        stats = self.stats
        if result.outcome is Outcome.DELIVERED:
            stats.submitted += 1
        elif result.outcome is Outcome.FAILED:
            stats.failed += 1
            log.info("apprise route %s: delivery %d failed: %s", self.name, message.delivery_id, result.error)
        elif result.outcome is Outcome.RETRY:
            stats.retried += 1
        else:
            stats.requeued += 1

    def _requeue(self, message: OutboundMessage, reason: str) -> None:
        self.stats.requeued += 1
        self._report(SendResult(message.delivery_id, Outcome.REQUEUE, error=reason))

    def _report(self, result: SendResult) -> None:
        """Collect results and hand them over once per loop turn, so a burst of completions is one batch."""
        self._outbox.append(result)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        results, self._outbox = self._outbox, []
        if results and self._events is not None:
            self._events.on_results(self.name, results)
