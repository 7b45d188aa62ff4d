"""A message on its way out: its submit_sm parts, and the result it ends with.

A concatenated message is one submit_sm per part (user data header in short_message, esm_class 0x40), and
one result for the engine: SUBMITTED once every part is accepted, carrying the first part's id in canonical
form (see :mod:`smpp_receipts`); RETRY or FAILED as soon as any part fails.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from alertcast.channels.base import InboundMessage, OutboundMessage, Outcome, RouteState, SendResult
from alertcast.channels.smpp_config import SmppBindConfig
from alertcast.channels.smpp_receipts import RawReceipt, canonical_message_id
from alertcast.channels.smpp_wire import absolute_time, destination_address, priority_flag, source_address
from alertcast.core.sms import SmsPlan, concat_udh, plan_sms

ESM_CLASS_UDHI = 0x40


@dataclass(eq=False)
class Outgoing:
    message: OutboundMessage
    parts: list[dict[str, Any]]
    """smpplib ``submit_sm`` fields, one dict per part."""
    ids: list[str | None] = field(default_factory=list)
    """The SMSC's message id for each accepted part."""
    sent_any: bool = False
    finished: bool = False

    def __post_init__(self) -> None:
        self.ids = [None] * len(self.parts)

    def submitted(self) -> tuple[SendResult, tuple[str, ...]]:
        """The SUBMITTED result, and every part's id (empty when the SMSC gave none to match receipts by)."""
        part_ids = tuple(part_id or "" for part_id in self.ids)
        provider_id = canonical_message_id(part_ids[0]) if part_ids[0] else None
        result = SendResult(self.message.delivery_id, Outcome.SUBMITTED, provider_id, parts=len(self.parts))
        return result, part_ids if all(part_ids) else ()

    def failed(self, error: str, *, permanent: bool, outcome: Outcome | None = None) -> SendResult:
        accepted = sum(1 for part_id in self.ids if part_id is not None)
        if accepted:
            error = f"{error} (after {accepted} of {len(self.parts)} parts were accepted)"
        outcome = outcome or (Outcome.FAILED if permanent else Outcome.RETRY)
        return SendResult(self.message.delivery_id, outcome, error=error, parts=len(self.parts))

    def requeue(self, reason: str) -> SendResult:
        return SendResult(
            self.message.delivery_id,
            Outcome.REQUEUE,
            error=reason,
            possible_duplicate=self.sent_any,
            parts=len(self.parts),
        )


@dataclass
class LinkReport:
    """What one owner-thread wake-up produced, handed to the event loop in one call."""

    results: list[SendResult] = field(default_factory=list)
    accepted: list[tuple[str, ...]] = field(default_factory=list)
    """Message ids of every part of each message reported SUBMITTED, first part first."""
    receipts: list[RawReceipt] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    state: RouteState | None = None
    throttled: int = 0
    reconnects: int = 0
    finished: bool = False

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def requeue_unsent(message: OutboundMessage, reason: str) -> SendResult:
    return SendResult(message.delivery_id, Outcome.REQUEUE, error=reason)


@lru_cache(maxsize=256)
def _plan(text: str, transliterate: bool) -> SmsPlan:
    """``plan_sms``, remembered: a broadcast sends the same few texts (one per language) to everyone, and
    planning one costs more than encoding its submit_sm."""
    return plan_sms(text, transliterate=transliterate)


def prepare(message: OutboundMessage, config: SmppBindConfig, reference: int) -> Outgoing | SendResult:
    """Plan the text and build each part's fields; a message that can never go (bad number, text too long,
    already expired) gets its FAILED result instead."""
    delivery_id = message.delivery_id
    try:
        destination = destination_address(message.address)
        plan = _plan(message.text, config.transliterate)
    except ValueError as error:
        return SendResult(delivery_id, Outcome.FAILED, error=str(error))
    validity = None
    if message.expires_at is not None:
        expires = message.expires_at if message.expires_at.tzinfo else message.expires_at.replace(tzinfo=UTC)
        if expires <= datetime.now(UTC):
            return SendResult(
                delivery_id, Outcome.FAILED, error=f"expired at {expires.isoformat()} before sending"
            )
        validity = absolute_time(expires)
    source = source_address(config.source_addr, config.source_addr_ton, config.source_addr_npi)
    common: dict[str, Any] = {
        "service_type": config.system_type or None,
        "source_addr_ton": source.ton,
        "source_addr_npi": source.npi,
        "source_addr": source.digits,
        "dest_addr_ton": destination.ton,
        "dest_addr_npi": destination.npi,
        "destination_addr": destination.digits,
        "priority_flag": priority_flag(message.priority),
        "validity_period": validity,
        "registered_delivery": 1,
        "data_coding": config.default_data_coding if plan.encoding == "gsm7" else config.ucs2_data_coding,
    }
    if plan.segments == 1:
        parts = [dict(common, esm_class=0, short_message=plan.parts[0].payload)]
    else:
        parts = [
            dict(
                common,
                esm_class=ESM_CLASS_UDHI,
                short_message=concat_udh(reference, plan.segments, number) + part.payload,
            )
            for number, part in enumerate(plan.parts, start=1)
        ]
    return Outgoing(message, parts)


class ReadyParts:
    """Parts waiting for a window slot and a token: highest message priority first, then in order.

    Held parts are at most a window's worth, but at a purchased 10/s that is seconds of queue; an Extreme
    alert handed over after routine messages must not wait behind them.
    """

    def __init__(self) -> None:
        self._levels: dict[int, deque[tuple[Outgoing, int]]] = {}

    def __bool__(self) -> bool:
        return any(self._levels.values())

    def add(self, outgoing: Outgoing) -> None:
        level = self._levels.setdefault(outgoing.message.priority, deque())
        level.extend((outgoing, index) for index in range(len(outgoing.parts)))

    def put_back(self, outgoing: Outgoing, index: int) -> None:
        """A throttled part goes back to the head of its level."""
        self._levels.setdefault(outgoing.message.priority, deque()).appendleft((outgoing, index))

    def peek(self) -> tuple[Outgoing, int] | None:
        for priority in sorted(self._levels, reverse=True):
            level = self._levels[priority]
            while level and level[0][0].finished:
                level.popleft()
            if level:
                return level[0]
        return None

    def pop(self) -> None:
        """Remove the part :meth:`peek` returned."""
        for priority in sorted(self._levels, reverse=True):
            if self._levels[priority]:
                self._levels[priority].popleft()
                return

    def clear(self) -> None:
        self._levels.clear()
