"""The dispatcher's background duties: leases, dead owners, expiry, cancels, idle detection, progress.

Each runs on a timer in its own task and talks to the database through the dispatcher's store thread.
None of them is on the per-delivery path, and all are safe to run in every engine sharing a database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from alertcast.engine.config import RouteSettings
from alertcast.engine.dispatcher import Dispatcher
from alertcast.engine.escalation import EscalationTally, sweep_until_done
from alertcast.engine.events import BroadcastProgress, EngineNotice, RouteProgress
from alertcast.store.outbox import (
    expire_due,
    inactive_broadcasts,
    lease_owners,
    mark_done,
    recover_expired_leases,
    recover_owners,
    renew_leases,
    sweep_cancelled,
)
from alertcast.store.outbox_escalation import escalations_due
from alertcast.store.outbox_report import OpenWork, awaiting_receipts, broadcast_state_counts, open_work

log = logging.getLogger(__name__)

TOTALS_EVERY = 2.0
"""Seconds between database snapshots of per-state totals for progress events (only with subscribers)."""
TOTALS_AFTER_ACTIVITY = 0.5
"""...or this soon after the engine itself changed something, so a console shows a result promptly."""


def dead_local_owners(owners: list[str], me: str) -> list[str]:
    """Owners named ``host/pid/...`` on this host whose process is gone. A live pid (even if reused by an
    unrelated process) is left alone: its leases simply run out."""
    host = socket.gethostname()
    dead = []
    for owner in owners:
        parts = owner.split("/")
        if owner == me or len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            dead.append(owner)
        except PermissionError:
            continue
    return dead


@dataclass
class Stranded:
    kind: str
    drill: bool
    count: int

    @property
    def reason(self) -> str:
        mode = "drill" if self.drill else "live"
        return f"no {mode} route for kind {self.kind}: {self.count} deliveries stay queued"


@dataclass
class IdleState:
    idle: bool
    stranded: list[Stranded] = field(default_factory=list)


def classify(work: list[OpenWork], routes: list[RouteSettings]) -> IdleState:
    """Idle when nothing is claimed anywhere and nothing queued could be taken by one of ``routes``;
    queued work no route here may carry is reported as stranded rather than waited for."""
    stranded: list[Stranded] = []
    busy = False
    for w in work:
        if w.state != "queued":
            busy = True
            continue
        if any(w.channel_kind in r.kinds and (r.drill if w.drill else r.live) for r in routes):
            busy = True
        else:
            stranded.append(Stranded(w.channel_kind, w.drill, w.count))
    return IdleState(not busy, stranded)


class Housekeeper:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self.s = dispatcher.settings
        self._tasks: list[asyncio.Task[None]] = []
        self.recovered = 0
        self.expired = 0
        self.cancel_swept = 0
        self.escalation = EscalationTally()
        self._totals: dict[int, dict[str, int]] = {}
        self._notified: set[str] = set()
        self._finished_seen: dict[int, int] = {}
        self._last_totals = 0.0
        self._activity_at_totals = -1
        self._last_progress = time.monotonic()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.s
        jobs: list[tuple[str, float, Callable[[], Awaitable[None]]]] = [
            ("leases", min(s.lease_seconds / 3, 10.0), self.leases),
            ("expiry", s.housekeeping_seconds, self.expiry),
            ("cancels", s.cancel_poll_seconds, self.cancels),
            ("done", max(s.housekeeping_seconds * 5, 2.0), self.done),
            ("progress", s.progress_seconds, self.progress),
            ("escalation", s.escalation_seconds, self.escalate),
        ]
        for name, every, job in jobs:
            self._tasks.append(loop.create_task(self._every(every, job), name=f"alertcast-{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while not self.d.stopping:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping job %s failed; trying again", getattr(job, "__name__", job))
            await asyncio.sleep(seconds)

    async def recover_now(self) -> None:
        """Take back leases that ran out, and those of dead engines on this host, at once (start-up)."""
        store = self.d.store
        self.recovered += await store.call(recover_expired_leases)
        if self.s.reclaim_dead_local:
            owners = await store.call(lease_owners)
            dead = dead_local_owners(owners, self.d.owner)
            if dead:
                n = await store.call(recover_owners, dead)
                self.recovered += n
                log.warning("took back %d deliveries from stopped engine(s) %s", n, ", ".join(dead))

    async def leases(self) -> None:
        await self.d.store.call(renew_leases, self.d.owner, self.s.lease_seconds)
        await self.recover_now()
        self.d.writer.retry_held()

    async def expiry(self) -> None:
        self.expired += await self.d.store.call(expire_due)
        self.cancel_swept += await self.d.store.call(sweep_cancelled)

    async def done(self) -> None:
        await self.d.store.call(mark_done)

    async def escalate(self) -> None:
        """Create the fallback steps that are due (see :mod:`alertcast.engine.escalation`)."""
        totals = await sweep_until_done(self.d.store, self.s.escalation_batch, self.escalation)
        if totals.created:
            self.d._wake_all()
            self.d.events.publish(
                EngineNotice(
                    "info", f"fallback: {self.escalation.escalated} recipient(s) moved to their next channel"
                )
            )

    async def cancels(self) -> None:
        """Drop buffered deliveries of broadcasts cancelled (by any process) since the last look."""
        d = self.d
        held = {x.broadcast_id for rt in d.routes.values() for x in rt.buffer}
        held.update(o.delivery.broadcast_id for o in d.outstanding.values())
        held -= d.cancelled
        if not held:
            return
        gone = await d.store.call(inactive_broadcasts, held)
        for broadcast_id, status in gone.items():
            log.info("broadcast %d is %s: dropping what is not yet handed out", broadcast_id, status)
            d.notify_cancelled(broadcast_id)

    async def idle_state(self, routes: list[RouteSettings]) -> IdleState:
        """Whether a ``--until-idle`` run may end: nothing held here, nothing routable left anywhere."""
        d = self.d
        if d.outstanding or d.writer.pending or any(rt.held or not rt.idle for rt in d.routes.values()):
            return IdleState(False)
        state = classify(await d.store.call(open_work), routes)
        if state.idle and await d.store.call(escalations_due, cap=1):
            return IdleState(False)  # a fallback step is due: the sweep is about to create work
        return state

    async def awaiting_receipts(self) -> int:
        """Receipts still expected for what was submitted on this engine's routes since it started."""
        return await self.d.store.call(awaiting_receipts, self.d.started_at, list(self.d.routes))

    async def progress(self) -> None:
        d = self.d
        events = d.events
        if not events.has_subscribers:
            return
        for rt in d.routes.values():
            state = rt.state
            c = rt.counters
            events.publish(
                RouteProgress(
                    rt.name, state.up, state.reason, rt.settings.kinds, len(rt.buffer), rt.in_flight,
                    c.handed, c.submitted, c.delivered, c.failed, c.retried, c.requeued, c.rate(),
                )
            )  # fmt: skip
        ids = list(d.progress)
        now = time.monotonic()
        written = d.writer.counters
        activity = written.applied + written.receipts_matched  # what the database now shows
        since = now - self._last_totals
        changed = activity != self._activity_at_totals
        if ids and (since >= TOTALS_EVERY or (changed and since >= TOTALS_AFTER_ACTIVITY)):
            self._last_totals, self._activity_at_totals = now, activity
            self._totals = await d.store.call(broadcast_state_counts, ids[-200:])
        elapsed, self._last_progress = max(1e-3, now - self._last_progress), now
        in_flight: dict[int, int] = {}
        for rt in d.routes.values():
            for x in rt.buffer:
                in_flight[x.broadcast_id] = in_flight.get(x.broadcast_id, 0) + 1
        for o in d.outstanding.values():
            in_flight[o.delivery.broadcast_id] = in_flight.get(o.delivery.broadcast_id, 0) + 1
        for broadcast_id, counts in d.progress.items():
            totals = self._totals.get(broadcast_id, {})
            finished = sum(
                counts.get(k, 0) for k in ("submitted", "delivered", "failed", "expired", "cancelled")
            )
            last = self._finished_seen.get(broadcast_id, 0)
            self._finished_seen[broadcast_id] = finished
            events.publish(
                BroadcastProgress(
                    broadcast_id,
                    queued=totals.get("queued", 0),
                    in_flight=in_flight.get(broadcast_id, 0),
                    sent=counts.get("submitted", 0) + counts.get("delivered", 0),
                    delivered=counts.get("delivered", 0),
                    failed=counts.get("failed", 0),
                    expired=counts.get("expired", 0),
                    cancelled=counts.get("cancelled", 0),
                    rate=(finished - last) / elapsed,
                    totals=dict(totals),
                    acked=totals.get("acknowledged", 0),
                )
            )

    def notice_stranded(self, stranded: list[Stranded]) -> None:
        for item in stranded:
            if item.reason not in self._notified:
                self._notified.add(item.reason)
                log.warning("%s", item.reason)
                self.d.events.publish(EngineNotice("warning", item.reason))
