"""Where replies from people go.

The engine's hosts use :class:`ReplyMatcher`: each reply is matched to the broadcast and delivery its sender
received (:mod:`alertcast.store.acks`), or kept unmatched with the reason; an acknowledgement also stops
whatever is still queued for that person (fallback steps included). Opt-out and help requests are recorded
and reported (as engine notices), never applied by themselves: whether an emergency channel honours STOP is
the operator's decision. :func:`store_unmatched` keeps every reply unmatched, for hosts that match later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine

from alertcast.channels.base import InboundMessage
from alertcast.core.replies import ReplyIntent
from alertcast.engine.events import EngineNotice
from alertcast.store.acks import AckSettings, AckStatus, record_replies
from alertcast.store.outbox import store_inbound
from alertcast.store.outbox_escalation import stop_for_acknowledged

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Request:
    """A reply the operator must see: who sent it (the contact, when known) and what it said."""

    sender: str
    contact_id: int | None
    broadcast_id: int | None
    text: str

    @property
    def who(self) -> str:
        return f"contact {self.contact_id}" if self.contact_id is not None else "unknown sender"


@dataclass
class InboundReport:
    """What one batch of replies came to."""

    acknowledged: int = 0
    duplicates: int = 0
    unmatched: int = 0
    not_sent: int = 0
    """Queued deliveries dropped because their person acknowledged."""
    opt_outs: list[Request] = field(default_factory=list)
    help_requests: list[Request] = field(default_factory=list)

    def notices(self) -> list[EngineNotice]:
        """What the operator must see: every help request (an error, so it stands out) and opt-out."""
        shown = []
        for request in self.help_requests:
            log.warning("help requested in a reply by %s", request.who)
            shown.append(
                EngineNotice(
                    "error", f"HELP requested by {request.sender} ({request.who}): {request.text[:80]}"
                )
            )
        for request in self.opt_outs:
            shown.append(
                EngineNotice(
                    "warning", f"opt-out request from {request.sender} ({request.who}): recorded, not applied"
                )
            )
        return shown


class InboundHandler(Protocol):
    """Takes a batch of inbound messages. Runs on the engine's store thread, so it may block on the
    database; it must not touch the event loop. It may return an :class:`InboundReport`."""

    def __call__(self, engine: Engine, messages: Sequence[InboundMessage]) -> InboundReport | None: ...


def store_unmatched(engine: Engine, messages: Sequence[InboundMessage]) -> InboundReport:
    """Keep every reply as an unmatched Ack row, for the operator to see."""
    store_inbound(
        engine,
        [
            {
                "received_at": m.received_at,
                "channel": m.channel,
                "sender": m.sender,
                "text": m.text,
                "reason": "not matched yet",
            }
            for m in messages
        ],
    )
    return InboundReport(unmatched=len(messages))


class ReplyMatcher:
    """The engine's inbound handler: match, record, stop what an acknowledgement makes unnecessary."""

    def __init__(self, settings: AckSettings) -> None:
        self.settings = settings

    def __call__(self, engine: Engine, messages: Sequence[InboundMessage]) -> InboundReport:
        report = InboundReport()
        people: set[tuple[int, int]] = set()
        for message, outcome in zip(messages, record_replies(engine, messages, self.settings), strict=True):
            if outcome.status is AckStatus.MATCHED:
                report.acknowledged += 1
                if outcome.broadcast_id is not None and outcome.contact_id is not None:
                    people.add((outcome.broadcast_id, outcome.contact_id))
            elif outcome.status is AckStatus.DUPLICATE:
                report.duplicates += 1
            else:
                report.unmatched += 1
            reply = outcome.reply
            if reply is None:
                continue
            request = Request(message.sender, outcome.contact_id, outcome.broadcast_id, message.text)
            if reply.intent is ReplyIntent.OPT_OUT:
                report.opt_outs.append(request)
            if reply.help_requested or reply.intent is ReplyIntent.HELP:
                report.help_requests.append(request)
        if people:
            report.not_sent = stop_for_acknowledged(engine, people)
        return report
