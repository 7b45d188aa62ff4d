"""The dispatcher: claims deliveries by priority, paces them per route, hands them to channels and records
every outcome.

One asyncio task per route ("pump") keeps a small buffer of claimed work — at most what the channel's
window can take, at most ``claim_horizon_seconds`` of the route's rate, one batch at most — and refills it
from the database only when it is empty. So every claim sees the current queue: an Extreme broadcast created
while a routine one is half done is what each route claims next.

Checked at the last step before ``channel.send``: the broadcast is not cancelled (cancels are polled every
``cancel_poll_seconds`` and can be signalled in-process), the broadcast has not expired, and a drill only
goes to a route marked for drills (live work only to a route marked live).

Results and receipts come back through :class:`ChannelEvents` on the loop thread and are written in batches
by :class:`ResultWriter`. Housekeeping (leases, expiry, cancelled sweeps, idle detection) and progress events
live in :mod:`alertcast.engine.housekeeping`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from alertcast.channels.base import (
    Channel,
    InboundMessage,
    OutboundMessage,
    Outcome,
    Receipt,
    RouteState,
    SendResult,
)
from alertcast.engine.ack_link import AckLinkSettings
from alertcast.engine.config import EngineSettings, RouteSettings
from alertcast.engine.events import EngineNotice, EventBus
from alertcast.engine.inbound import InboundHandler, InboundReport, store_unmatched
from alertcast.engine.route import RouteRuntime
from alertcast.engine.storeio import StoreWorker
from alertcast.engine.writer import ResultWriter
from alertcast.store.models import utcnow
from alertcast.store.outbox import (
    BroadcastCache,
    ClaimedDelivery,
    ReceiptRecord,
    ResultKind,
    ResultRecord,
    claim,
    mark_done,
    release_all,
)

log = logging.getLogger(__name__)

_OUTCOMES = {
    Outcome.SUBMITTED: ResultKind.SUBMITTED,
    Outcome.DELIVERED: ResultKind.DELIVERED,
    Outcome.RETRY: ResultKind.RETRY,
    Outcome.FAILED: ResultKind.FAILED,
    Outcome.REQUEUE: ResultKind.REQUEUE,
}


@dataclass
class Tally:
    """What this engine did, by outcome; the run summary and progress events read it."""

    claimed: int = 0
    handed: int = 0
    submitted: int = 0
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    requeued: int = 0
    released: int = 0
    expired: int = 0
    cancelled: int = 0
    refused: int = 0
    acknowledged: int = 0
    """Replies matched as acknowledgements (first ones; repeats are not counted)."""
    replies_unmatched: int = 0
    opt_out_requests: int = 0
    help_requests: int = 0


@dataclass
class Outstanding:
    delivery: ClaimedDelivery
    route: str


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        settings: EngineSettings,
        routes: Sequence[tuple[RouteSettings, Channel]],
        *,
        events: EventBus | None = None,
        inbound: InboundHandler | None = None,
        links: AckLinkSettings | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = settings.owner_id()
        self.events = events or EventBus()
        self.inbound = inbound or store_unmatched
        self.links = links if links is not None and links.enabled else None
        """When set, long-form messages of deliveries with a link secret carry their ack link."""
        self.store = StoreWorker(engine)
        self.routes = {
            r.name: RouteRuntime(r, ch, settings.route_cooldown_seconds, settings.failover_requeues)
            for r, ch in routes
        }
        self.by_channel = {rt.channel.name: rt for rt in self.routes.values()}
        self.tally = Tally()
        self.outstanding: dict[int, Outstanding] = {}
        self.cancelled: set[int] = set()
        self.cache = BroadcastCache()
        self.writer = ResultWriter(
            self.store,
            self.owner,
            settings.retry_policy,
            flush_seconds=settings.flush_seconds,
            flush_max=settings.flush_max,
            hold_seconds=settings.receipt_hold_seconds,
            on_written=self._written,
        )
        self.stopping = False
        self.started_at = utcnow()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[object]] = set()
        self.progress: dict[int, dict[str, int]] = {}
        """Per broadcast: what this engine did with it (handed, delivered, failed, ...)."""

    # -- life cycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        for rt in self.routes.values():
            await rt.channel.start(self)
        loop = asyncio.get_running_loop()
        for rt in self.routes.values():
            self._tasks.append(loop.create_task(self._pump(rt), name=f"alertcast-pump-{rt.name}"))

    async def stop(self) -> None:
        """Stop claiming, give back what was never handed out, stop the channels (they hand back what they
        hold), write every result, then release anything still held as a possible duplicate."""
        self.stopping = True
        for rt in self.routes.values():
            rt.wake.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for rt in self.routes.values():
            self._drop_buffer(rt, ResultKind.RELEASE, None, lambda d: True)
        for rt in self.routes.values():
            try:
                await rt.channel.stop()
            except Exception:
                log.exception("route %s did not stop cleanly", rt.name)
        await self.writer.drain()
        if self.outstanding:
            log.warning(
                "%d deliveries unanswered at stop; released as possible duplicates", len(self.outstanding)
            )
            self.outstanding.clear()
        await self.store.call(release_all, self.owner, possible_duplicate=True)
        await self.store.call(mark_done)
        self.store.close()

    def notify_cancelled(self, broadcast_id: int) -> None:
        """In-process cancel signal (the console cancels and runs the engine in one process)."""
        self.cancelled.add(broadcast_id)
        for rt in self.routes.values():
            self._drop_buffer(
                rt, ResultKind.CANCELLED, "broadcast cancelled", lambda d: d.broadcast_id == broadcast_id
            )

    # -- routing ------------------------------------------------------------------------------------
    def _modes(self, rt: RouteRuntime, kind: str) -> tuple[bool, ...]:
        """Drill/live work this route should claim for ``kind`` now: work it may carry, if it is in the
        best tier (lowest ``order``) among usable routes that carry that work."""
        modes = []
        for drill in (False, True):
            if not rt.carries(kind, drill):
                continue
            tiers = [o.settings.order for o in self.routes.values() if o.carries(kind, drill) and o.usable()]
            if tiers and rt.settings.order == min(tiers):
                modes.append(drill)
        return tuple(modes)

    async def _claim(self, rt: RouteRuntime, size: int) -> int:
        got = 0
        for kind in rt.kinds_in_turn():
            if size - got <= 0:
                break
            modes = self._modes(rt, kind)
            if not modes:
                continue
            claimed = await self.store.call(
                claim,
                self.owner,
                route=rt.name,
                kind=kind,
                modes=modes,
                limit=size - got,
                lease_seconds=self.settings.lease_seconds,
                cache=self.cache,
            )
            rt.buffer.extend(claimed)
            got += len(claimed)
        self.tally.claimed += got
        rt.claimed(got, self.settings.batch_size)
        return got

    # -- the pump -----------------------------------------------------------------------------------
    async def _pump(self, rt: RouteRuntime) -> None:
        """Run the route until stopped; an error (the database gone for a moment) pauses it, never ends it."""
        while not self.stopping:
            try:
                await self._pump_once(rt)
            except Exception as exc:
                log.exception("route %s: %s; carrying on in a second", rt.name, exc)
                self.events.publish(EngineNotice("error", f"route {rt.name}: {exc}"))
                await self._wait(rt, 1.0)

    async def _wait(self, rt: RouteRuntime, seconds: float) -> None:
        rt.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rt.wake.wait(), timeout=max(seconds, 0.0005))

    async def _pump_once(self, rt: RouteRuntime) -> None:
        if not rt.usable():
            if rt.buffer:
                self._drop_buffer(rt, ResultKind.RELEASE, None, lambda d: True)
            rt.idle = not rt.held
            await self._wait(rt, 0.25)
            return
        if not rt.buffer:
            size = rt.claim_size(self.settings.batch_size, self.settings.claim_horizon_seconds)
            if size <= 0:  # the window is full (or results are being written): wait for room
                rt.idle = False
                await self._wait(rt, 0.05)
                return
            got = await self._claim(rt, size)
            if self.stopping:
                return
            if not got:
                rt.idle = not rt.held
                await self._wait(rt, self.settings.idle_poll_seconds)
                return
        rt.idle = False
        capacity = rt.channel.capacity()
        if capacity <= 0:
            await self._wait(rt, 0.05)
            return
        batch: list[tuple[ClaimedDelivery, OutboundMessage]] = []
        while rt.buffer and len(batch) < capacity:
            delivery = rt.buffer[0]
            if not rt.bucket.try_take(rt.cost(delivery)):
                break
            rt.buffer.popleft()
            message = self._final_check(rt, delivery)
            if message is not None:
                batch.append((delivery, message))
        if batch:
            self._hand_off(rt, batch)
        if rt.buffer and not rt.bucket.unlimited:
            await self._wait(rt, rt.bucket.wait_time(rt.cost(rt.buffer[0])))
        elif not batch:
            await asyncio.sleep(0)

    def _final_check(self, rt: RouteRuntime, d: ClaimedDelivery) -> OutboundMessage | None:
        """The last look before a transport: cancelled, expired, and drill/live permission."""
        if d.broadcast_id in self.cancelled:
            self._finish(rt, d, ResultKind.CANCELLED, "broadcast cancelled")
            return None
        if d.expires_at is not None and d.expires_at <= utcnow():
            self._finish(rt, d, ResultKind.EXPIRED, "expired before it could be sent")
            return None
        if not rt.carries(d.channel_kind, d.drill):
            what = "drill" if d.drill else "live"
            log.error("route %s refused %s delivery %d: not marked for %s work", rt.name, what, d.id, what)
            rt.counters.refused += 1
            self.tally.refused += 1
            self._finish(rt, d, ResultKind.RELEASE, None)
            return None
        body = d.body or None
        if self.links is not None and d.ack_code:
            body = self.links.body_with_link(d.body or d.text, d.id, d.ack_code, d.language)
        return OutboundMessage(
            delivery_id=d.id,
            address=d.address,
            text=d.text,
            priority=d.priority,
            drill=d.drill,
            title=d.title or None,
            body=body,
            expires_at=d.expires_at,
            broadcast_id=d.broadcast_id,
        )

    def _hand_off(self, rt: RouteRuntime, batch: list[tuple[ClaimedDelivery, OutboundMessage]]) -> None:
        for d, _ in batch:
            self.outstanding[d.id] = Outstanding(d, rt.name)
        rt.in_flight += len(batch)
        rt.counters.handed += len(batch)
        self.tally.handed += len(batch)
        messages = [m for _, m in batch]
        try:
            rt.channel.send(messages)
        except Exception as exc:
            log.exception("route %s failed to take %d messages", rt.name, len(messages))
            failed = [
                SendResult(m.delivery_id, Outcome.REQUEUE, error=str(exc), possible_duplicate=True)
                for m in messages
            ]
            self.on_results(rt.channel.name, failed)

    _TALLY = {
        ResultKind.RELEASE: "released",
        ResultKind.EXPIRED: "expired",
        ResultKind.CANCELLED: "cancelled",
    }

    def _finish(self, rt: RouteRuntime, d: ClaimedDelivery, kind: ResultKind, error: str | None) -> None:
        """Settle a claimed delivery that never reached the transport."""
        rt.unflushed += 1
        name = self._TALLY[kind]
        setattr(self.tally, name, getattr(self.tally, name) + 1)
        self._count(d.broadcast_id, name)
        self.writer.add(rt.name, ResultRecord(d.id, kind, d.attempts, error=error))

    def _drop_buffer(
        self, rt: RouteRuntime, kind: ResultKind, error: str | None, which: Callable[[ClaimedDelivery], bool]
    ) -> None:
        keep = []
        for d in rt.buffer:
            if which(d):
                self._finish(rt, d, kind, error)
            else:
                keep.append(d)
        rt.buffer.clear()
        rt.buffer.extend(keep)

    def _count(self, broadcast_id: int, what: str, n: int = 1) -> None:
        counts = self.progress.setdefault(broadcast_id, {})
        counts[what] = counts.get(what, 0) + n

    # -- ChannelEvents (always on the loop thread) ---------------------------------------------------
    def on_results(self, channel: str, results: Sequence[SendResult]) -> None:
        rt = self.by_channel.get(channel)
        requeued = 0
        for r in results:
            held = self.outstanding.pop(r.delivery_id, None)
            route = held.route if held else (rt.name if rt else None)
            owner = self.routes.get(route) if route else None
            attempts = held.delivery.attempts if held else 0
            kind = _OUTCOMES[r.outcome]
            if owner is not None:
                if held is not None:
                    owner.in_flight -= 1
                owner.unflushed += 1
                self._tally_outcome(owner, kind)
            if held is not None:
                self._count(held.delivery.broadcast_id, kind.value)
            if kind is ResultKind.REQUEUE:
                requeued += 1
            elif kind is not ResultKind.RETRY and owner is not None:
                owner.note_success()
            self.writer.add(
                route,
                ResultRecord(r.delivery_id, kind, attempts, r.provider_id, r.error, r.possible_duplicate),
            )
        if rt is not None:
            if requeued and rt.note_requeue(requeued):
                self.events.publish(EngineNotice("warning", f"route {rt.name}: {rt.degraded_reason}"))
                log.warning("route %s: %s", rt.name, rt.degraded_reason)
                self._wake_all()
            rt.wake.set()

    def _tally_outcome(self, rt: RouteRuntime, kind: ResultKind) -> None:
        name = {ResultKind.RETRY: "retried", ResultKind.REQUEUE: "requeued"}.get(kind, kind.value)
        setattr(rt.counters, name, getattr(rt.counters, name) + 1)
        setattr(self.tally, name, getattr(self.tally, name) + 1)

    def on_receipts(self, receipts: Sequence[Receipt]) -> None:
        self.writer.add_receipts(
            [
                ReceiptRecord(r.channel, r.provider_ids, r.delivered, r.status, r.error, utcnow())
                for r in receipts
            ]
        )

    def on_inbound(self, messages: Sequence[InboundMessage]) -> None:
        batch = list(messages)
        task = asyncio.get_running_loop().create_task(self.store.call(self.inbound, batch))
        self._background.add(task)
        task.add_done_callback(self._inbound_done)

    def _inbound_done(self, task: asyncio.Task[object]) -> None:
        self._background.discard(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            log.error("inbound handler failed: %s", task.exception())
            return
        report = task.result()
        if isinstance(report, InboundReport):
            self._inbound_report(report)

    def _inbound_report(self, report: InboundReport) -> None:
        """Count replies, and put every opt-out and help request in front of the operator."""
        t = self.tally
        t.acknowledged += report.acknowledged
        t.replies_unmatched += report.unmatched
        t.opt_out_requests += len(report.opt_outs)
        t.help_requests += len(report.help_requests)
        for notice in report.notices():
            self.events.publish(notice)

    def on_state(self, channel: str, state: RouteState) -> None:
        rt = self.by_channel.get(channel)
        if rt is None:
            return
        level = "info" if state.up else "warning"
        text = f"route {rt.name} is {'up' if state.up else 'down'}" + (
            f": {state.reason}" if state.reason else ""
        )
        self.events.publish(EngineNotice(level, text))
        self._wake_all()

    def _wake_all(self) -> None:
        for rt in self.routes.values():
            rt.wake.set()

    def _written(self, records: Sequence[tuple[str | None, ResultRecord]]) -> None:
        for route, _ in records:
            rt = self.routes.get(route) if route else None
            if rt is not None:
                rt.unflushed -= 1
        self._wake_all()
