"""Where replies from people go. The default keeps each one as an unmatched ``Ack`` row; matching replies
to broadcasts (ack codes, senders) plugs in here later without touching the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine

from alertcast.channels.base import InboundMessage
from alertcast.store.outbox import store_inbound


class InboundHandler(Protocol):
    """Takes a batch of inbound messages. Runs on the engine's store thread, so it may block on the
    database; it must not touch the event loop."""

    def __call__(self, engine: Engine, messages: Sequence[InboundMessage]) -> None: ...


def store_unmatched(engine: Engine, messages: Sequence[InboundMessage]) -> None:
    """The default handler: one unmatched Ack row per message, for the operator to see."""
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
