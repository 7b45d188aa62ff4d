"""Shared pieces for the engine tests: broadcasts on a real store, instrumented channels, a running engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from alertcast.channels.base import ChannelEvents, OutboundMessage, Outcome, Receipt, SendResult
from alertcast.channels.drill import DrillChannel
from alertcast.engine.config import EngineSettings, RouteSettings
from alertcast.engine.dispatcher import Dispatcher
from alertcast.engine.runner import RunSummary, run_dispatcher
from alertcast.store import outbox as ob
from alertcast.store.models import Delivery

FAST = EngineSettings(
    idle_poll_seconds=0.02,
    flush_seconds=0.01,
    cancel_poll_seconds=0.1,
    housekeeping_seconds=0.2,
    progress_seconds=0.1,
    backoff_base_seconds=0.05,
    backoff_cap_seconds=0.2,
    lease_seconds=30,
)


def broadcast(
    engine: Engine,
    n: int,
    *,
    priority: int = 0,
    drill: bool = True,
    kind: str = "sms",
    expires_at: datetime | None = None,
    prefix: str = "+1555",
    text: str = "Test message",
) -> int:
    spec = ob.BroadcastSpec(
        operator="tester",
        title=f"{n} x p{priority}",
        messages={"en": ob.MessageText(text)},
        recipients=[(None, f"{prefix}{i:07d}", kind, "en") for i in range(n)],
        priority=priority,
        drill=drill,
        expires_at=expires_at,
    )
    with Session(engine) as session:
        broadcast_id = ob.create_broadcast(session, spec)
        session.commit()
    return broadcast_id


def counts(engine: Engine, broadcast_id: int | None = None) -> dict[str, int]:
    query = select(Delivery.state, func.count()).group_by(Delivery.state)  # type: ignore[call-overload]
    if broadcast_id is not None:
        query = query.where(Delivery.broadcast_id == broadcast_id)
    with Session(engine) as session:
        return dict(session.execute(query).all())


def rows(engine: Engine, broadcast_id: int) -> list[Delivery]:
    with Session(engine) as session:
        query = select(Delivery).where(Delivery.broadcast_id == broadcast_id).order_by(Delivery.id)  # type: ignore[arg-type]
        return list(session.execute(query).scalars())


@dataclass
class Handoff:
    at: float
    wall: datetime
    delivery_id: int
    broadcast_id: int | None
    drill: bool


class RecordingDrill(DrillChannel):
    """The drill sink, noting when each message was handed to it (the moment that matters for priority,
    rate and cancel). ``always_retry`` addresses fail temporarily on every attempt."""

    def __init__(self, name: str, *, always_retry: str = "", **kwargs: object) -> None:
        super().__init__(name, **kwargs)  # type: ignore[arg-type]
        self.handoffs: list[Handoff] = []
        self.always_retry = always_retry

    def send(self, messages: Sequence[OutboundMessage]) -> None:
        now, wall = time.monotonic(), datetime.now().astimezone()
        self.handoffs.extend(Handoff(now, wall, m.delivery_id, m.broadcast_id, m.drill) for m in messages)
        super().send(messages)

    def _outcome(self, message: OutboundMessage) -> SendResult:
        if self.always_retry and message.address.startswith(self.always_retry):
            return SendResult(message.delivery_id, Outcome.RETRY, error="drill: subscriber busy")
        return super()._outcome(message)


class SmscLike(RecordingDrill):
    """Submits (provider ids in hex) and sends each receipt *before* the submit result, with the id in
    decimal and hex forms, as some SMSCs do."""

    def _complete(self, messages: Sequence[OutboundMessage]) -> None:
        self._in_flight -= len(messages)
        events: ChannelEvents = self._events  # type: ignore[assignment]
        receipts = [
            Receipt(self.name, (str(m.delivery_id + 1000), f"{m.delivery_id + 1000:x}"), True, "DELIVRD")
            for m in messages
        ]
        events.on_receipts(receipts)
        results = [
            SendResult(m.delivery_id, Outcome.SUBMITTED, provider_id=f"{m.delivery_id + 1000:x}")
            for m in messages
        ]
        events.on_results(self.name, results)


class LateReceipts(RecordingDrill):
    """Submits at once; the receipts follow ``delay`` seconds later, as from a real network."""

    delay = 0.5

    def _complete(self, messages: Sequence[OutboundMessage]) -> None:
        self._in_flight -= len(messages)
        events: ChannelEvents = self._events  # type: ignore[assignment]
        events.on_results(self.name, [SendResult(m.delivery_id, Outcome.SUBMITTED, provider_id=f"L{m.delivery_id}") for m in messages])  # fmt: skip
        receipts = [Receipt(self.name, (f"L{m.delivery_id}",), True, "DELIVRD") for m in messages]
        asyncio.get_running_loop().call_later(self.delay, events.on_receipts, receipts)


class HandsBack(RecordingDrill):
    """A link that keeps dropping: every message comes back as REQUEUE (not attempted)."""

    def _complete(self, messages: Sequence[OutboundMessage]) -> None:
        self._in_flight -= len(messages)
        self._report([SendResult(m.delivery_id, Outcome.REQUEUE, error="link lost") for m in messages])


def route(name: str, *, kinds: tuple[str, ...] = ("sms",), drill: bool = True, live: bool = False, **kw: object) -> RouteSettings:  # fmt: skip
    return RouteSettings(name=name, type="drill", kinds=kinds, drill=drill, live=live, **kw)  # type: ignore[arg-type]


@dataclass
class Running:
    dispatcher: Dispatcher
    task: asyncio.Task[RunSummary]
    stop: asyncio.Event
    summary: RunSummary | None = field(default=None)


@asynccontextmanager
async def running(
    engine: Engine,
    routes: Sequence[tuple[RouteSettings, DrillChannel]],
    settings: EngineSettings = FAST,
    **kw: object,
) -> AsyncIterator[Running]:
    dispatcher = Dispatcher(engine, replace(settings, **kw), routes)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(run_dispatcher(dispatcher, stop=stop, idle_check_seconds=0.05))
    run = Running(dispatcher, task, stop)
    try:
        yield run
    finally:
        stop.set()
        run.summary = await asyncio.wait_for(task, timeout=30)


async def wait_for(predicate: Callable[[], bool], limit: float, what: str) -> None:
    """Poll (off the loop, since predicates read the database) until true; fail naming ``what``."""
    deadline = time.monotonic() + limit
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        await asyncio.sleep(0.05)
