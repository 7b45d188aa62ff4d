"""The SMPP channel: one route to an operator's SMSC over one or more binds.

A route takes a list of binds (:class:`SmppBindConfig`) and spreads messages over those that are up, each
message to the bind with the most free window. Each connection has one owner thread
(:mod:`smpp_link`); this class lives on the event loop, hands messages to the links and turns their
reports into :class:`ChannelEvents` calls, in order: a message's result always reaches the engine before its
receipt (:mod:`smpp_receipts` holds early receipts back).

Flow control is per bind: ``window`` submits outstanding, ``max_rate`` per second with AIMD back-off on
ESME_RTHROTTLED / ESME_RMSGQFUL (a throttled part is sent again, later, without counting an attempt). A lost
connection reconnects with capped exponential back-off (0.1 s doubling to ``reconnect_max``) and reports
what it held as REQUEUE with ``possible_duplicate``; a bind refused for its credentials marks the route down
with the SMSC's reason and is retried slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from alertcast.channels.base import (
    Channel,
    ChannelEvents,
    ChannelKind,
    OutboundMessage,
    Outcome,
    RouteState,
    SendResult,
)
from alertcast.channels.smpp_config import SmppBindConfig
from alertcast.channels.smpp_link import SmppLink
from alertcast.channels.smpp_outgoing import LinkReport
from alertcast.channels.smpp_receipts import ReceiptMatcher

__all__ = ["SmppBindConfig", "SmppChannel"]

RECEIPT_SWEEP_INTERVAL = 1.0


class SmppChannel(Channel):
    kind = ChannelKind.SMS

    def __init__(
        self,
        name: str,
        binds: Sequence[SmppBindConfig],
        *,
        drill_route: bool = False,
        receipt_hold: float = 10.0,
    ) -> None:
        """``receipt_hold``: seconds a receipt with an id not yet seen in a submit_sm_resp waits for it."""
        super().__init__(name, drill_route=drill_route)
        if not binds:
            raise ValueError(f"SMPP route {name!r} has no binds")
        self.binds = tuple(binds)
        self._matcher = ReceiptMatcher(name, hold=receipt_hold)
        self._links: list[SmppLink] = []
        self._assigned: dict[SmppLink, int] = {}
        self._link_states: dict[SmppLink, RouteState] = {}
        self._events: ChannelEvents | None = None
        self._state = RouteState(False, "not started")
        self._running = False
        self._sweeper: asyncio.Task[None] | None = None

    # -- Channel interface ---------------------------------------------------------------------------------

    async def start(self, events: ChannelEvents) -> None:
        loop = asyncio.get_running_loop()
        self._events = events
        for config in self.binds:
            roles = ["transceiver"] if config.mode == "transceiver" else ["transmitter", "receiver"]
            for role in roles:
                link = SmppLink(self.name, config, role, loop, self._on_report)
                self._links.append(link)
                self._assigned[link] = 0
                self._link_states[link] = RouteState(False, f"{link.label}: connecting")
        self._running = True
        self._update_state()
        for link in self._links:
            link.start()
        self._sweeper = loop.create_task(self._sweep_receipts())

    async def stop(self) -> None:
        """Stop every link; each reports what it still holds as REQUEUE before its thread ends."""
        self._running = False
        for link in self._links:
            link.request_stop()
        await asyncio.gather(*(link.done for link in self._links if link.started))
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        leftovers = self._matcher.drain()
        if leftovers and self._events is not None:
            self.stats.receipts += len(leftovers)
            self._events.on_receipts(leftovers)
        self._update_state()

    def capacity(self) -> int:
        if not self._running:
            return 0
        return sum(
            max(0, link.config.window - self._assigned[link])
            for link in self._links
            if link.sends and self._link_states[link].up
        )

    @property
    def state(self) -> RouteState:
        return self._state

    def send(self, messages: Sequence[OutboundMessage]) -> None:
        if not messages:
            return
        self.stats.handed += len(messages)
        senders = [link for link in self._links if link.sends and self._link_states[link].up]
        if not self._running or not senders:
            reason = "channel stopped" if not self._running else f"route down: {self._state.reason}"
            results = [SendResult(m.delivery_id, Outcome.REQUEUE, error=reason) for m in messages]
            asyncio.get_running_loop().call_soon(self._report_results, results)
            return
        batches: dict[SmppLink, list[OutboundMessage]] = {}
        for message in messages:
            link = max(senders, key=lambda candidate: candidate.config.window - self._assigned[candidate])
            self._assigned[link] += 1
            batches.setdefault(link, []).append(message)
        for link, batch in batches.items():
            link.submit(batch)

    # -- reports from the owner threads (on the event loop) ------------------------------------------------

    def _on_report(self, link: SmppLink, report: LinkReport) -> None:
        if link.sends:
            self._assigned[link] = max(0, self._assigned[link] - len(report.results))
        extra = self.stats.extra
        if report.throttled:
            extra["throttled"] = extra.get("throttled", 0) + report.throttled
        if report.reconnects:
            extra["reconnects"] = extra.get("reconnects", 0) + report.reconnects
        now = time.monotonic()
        receipts = []
        for part_ids in report.accepted:
            receipts += self._matcher.submitted(part_ids, now)
        if report.results:
            self._report_results(report.results)
        for raw in report.receipts:
            receipts += self._matcher.receipt(raw, now)
        if receipts and self._events is not None:
            self.stats.receipts += len(receipts)
            self._events.on_receipts(receipts)
        if report.inbound and self._events is not None:
            self.stats.inbound += len(report.inbound)
            self._events.on_inbound(report.inbound)
        if report.state is not None:
            self._link_states[link] = report.state
            self._update_state()

    def _report_results(self, results: list[SendResult]) -> None:
        stats = self.stats
        for result in results:
            if result.outcome is Outcome.SUBMITTED:
                stats.submitted += 1
            elif result.outcome is Outcome.FAILED:
                stats.failed += 1
            elif result.outcome is Outcome.RETRY:
                stats.retried += 1
            elif result.outcome is Outcome.REQUEUE:
                stats.requeued += 1
        if self._events is not None:
            self._events.on_results(self.name, results)

    def _update_state(self) -> None:
        senders = [self._link_states[link] for link in self._links if link.sends]
        if not self._running:
            state = RouteState(False, "stopped")
        elif any(s.up for s in senders):
            state = RouteState(True)
        else:
            state = RouteState(False, "; ".join(s.reason for s in senders))
        if state != self._state:
            self._state = state
            if self._events is not None:
                self._events.on_state(self.name, state)

    async def _sweep_receipts(self) -> None:
        while True:
            await asyncio.sleep(RECEIPT_SWEEP_INTERVAL)
            receipts = self._matcher.expire(time.monotonic())
            if receipts and self._events is not None:
                self.stats.receipts += len(receipts)
                self._events.on_receipts(receipts)
