"""Running a dispatcher to the end: until stopped, or until there is nothing left it could do."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from alertcast.engine.dispatcher import Dispatcher
from alertcast.engine.housekeeping import Housekeeper, Stranded

log = logging.getLogger(__name__)

STRANDED_EVERY = 10.0
"""Seconds between looks for work no route may carry, when not running until idle."""


@dataclass
class RunSummary:
    owner: str
    seconds: float
    claimed: int
    handed: int
    submitted: int
    delivered: int
    failed: int
    retried: int
    requeued: int
    released: int
    expired: int
    cancelled: int
    refused: int
    recovered: int
    """Deliveries taken back from engines that died (requeued as possible duplicates)."""
    stale_results: int
    receipts_matched: int
    receipts_unmatched: int
    """Receipts that never matched a delivery within the hold time (or were still held at stop)."""
    acknowledged: int = 0
    """Replies matched as acknowledgements."""
    replies_unmatched: int = 0
    opt_out_requests: int = 0
    help_requests: int = 0
    escalated: int = 0
    """People this engine moved on to a later fallback step."""
    fallback_deliveries: int = 0
    """Deliveries it created for those steps."""
    stranded: list[dict[str, Any]] = field(default_factory=list)
    routes: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(d: Dispatcher, keeper: Housekeeper, seconds: float, stranded: list[Stranded]) -> RunSummary:
    t = d.tally
    w = d.writer.counters
    return RunSummary(
        owner=d.owner,
        seconds=round(seconds, 3),
        claimed=t.claimed,
        handed=t.handed,
        submitted=t.submitted,
        delivered=t.delivered,
        failed=t.failed,
        retried=t.retried,
        requeued=t.requeued,
        released=t.released,
        expired=t.expired + keeper.expired,
        cancelled=t.cancelled + keeper.cancel_swept,
        refused=t.refused,
        recovered=keeper.recovered,
        stale_results=w.stale,
        receipts_matched=w.receipts_matched,
        receipts_unmatched=w.receipts_dropped + d.writer.held_receipts,
        acknowledged=t.acknowledged,
        replies_unmatched=t.replies_unmatched,
        opt_out_requests=t.opt_out_requests,
        help_requests=t.help_requests,
        escalated=keeper.escalation.escalated,
        fallback_deliveries=keeper.escalation.created,
        stranded=[{"kind": s.kind, "drill": s.drill, "count": s.count, "reason": s.reason} for s in stranded],
        routes={
            name: {
                "handed": rt.counters.handed,
                "submitted": rt.counters.submitted,
                "delivered": rt.counters.delivered,
                "failed": rt.counters.failed,
                "retried": rt.counters.retried,
                "requeued": rt.counters.requeued,
                "refused": rt.counters.refused,
            }
            for name, rt in d.routes.items()
        },
    )


async def run_dispatcher(
    dispatcher: Dispatcher,
    *,
    until_idle: bool = False,
    receipt_timeout: float = 0.0,
    stop: asyncio.Event | None = None,
    idle_check_seconds: float = 0.25,
) -> RunSummary:
    """Start, run until ``stop`` is set (or, with ``until_idle``, until nothing is left that this engine
    could send), then stop gracefully. With ``receipt_timeout``, an idle run waits up to that long for
    receipts of what it submitted."""
    stop_event = stop or asyncio.Event()
    keeper = Housekeeper(dispatcher)
    routes = [rt.settings for rt in dispatcher.routes.values()]
    started = time.monotonic()
    stranded: list[Stranded] = []
    idle_since: float | None = None
    last_look = 0.0
    try:
        await keeper.recover_now()
        await dispatcher.start()
        keeper.start()
        log.info(
            "engine %s running with routes %s",
            dispatcher.owner,
            ", ".join(sorted(dispatcher.routes)) or "(none)",
        )
        while not stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), timeout=idle_check_seconds)
            if stop_event.is_set():
                break
            if not until_idle and time.monotonic() - last_look < STRANDED_EVERY:
                continue
            last_look = time.monotonic()
            state = await keeper.idle_state(routes)
            keeper.notice_stranded(state.stranded)
            if not until_idle:
                continue
            if not state.idle:
                idle_since = None
                continue
            stranded = state.stranded
            idle_since = idle_since or time.monotonic()
            waited = time.monotonic() - idle_since
            if receipt_timeout <= 0 or waited >= receipt_timeout or await keeper.awaiting_receipts() == 0:
                break
    finally:
        await keeper.stop()
        await dispatcher.stop()
    return summarise(dispatcher, keeper, time.monotonic() - started, stranded)
