"""The plain values the outbox takes and gives: what to create, what was claimed, what became of it.

They are frozen dataclasses with no database types in them, so the engine and the services can pass them
around (and across threads) freely.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class OutboxError(ValueError):
    """A request the outbox refuses (bad broadcast spec, unknown broadcast); the message says what and where."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """One delivery to create: a person (or a bare address) on one channel kind, in one language."""

    contact_id: int | None
    address: str
    channel_kind: str = "sms"
    language: str = "en"
    step: int = 0
    """The fallback step it belongs to: a person starts at the first step they can be reached on."""


@dataclass(frozen=True, slots=True)
class MessageText:
    """A broadcast's rendered text in one language."""

    sms_text: str
    title: str = ""
    body: str = ""


@dataclass(frozen=True)
class BroadcastSpec:
    """Everything :func:`alertcast.store.outbox.create_broadcast` needs; recipients are explicit.

    ``messages`` maps a language tag to its text. A recipient whose language has no text gets the text of
    ``default_language`` (the first language of ``messages`` when not given) and is stored with that
    language, so the report shows what the person actually received.
    """

    operator: str
    title: str
    messages: Mapping[str, MessageText]
    recipients: Sequence[Recipient | tuple[int | None, str, str, str]]
    priority: int = 0
    drill: bool = False
    expires_at: datetime | None = None
    ack_requested: bool = False
    ack_code: str | None = None
    channel_kinds: Sequence[str] = ()
    """Kinds the broadcast uses, for display; derived from the recipients when empty."""
    alert_id: int | None = None
    default_language: str | None = None
    escalation: Mapping[str, Any] | None = None
    """The fallback policy (``EscalationPolicy.to_json()``); deliveries with a later step are watched by the
    engine's escalation sweep. None: each delivery stands alone."""


class ResultKind(enum.StrEnum):
    """What the engine reports for one claimed delivery (the channel outcomes plus the engine's own)."""

    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    REQUEUE = "requeue"
    """Back to the queue without counting an attempt (the transport may or may not have sent it)."""
    RELEASE = "release"
    """Claimed but never handed to a transport: back to the queue, certainly not sent."""
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ResultRecord:
    delivery_id: int
    kind: ResultKind
    attempts: int = 0
    """Attempts made before this one (from the claim), so retries need no extra read."""
    provider_id: str | None = None
    error: str | None = None
    possible_duplicate: bool = False


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    """A delivery receipt to match by provider id; ``route`` narrows the match to the route that sent it."""

    route: str | None
    provider_ids: tuple[str, ...]
    delivered: bool
    status: str
    error: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off with jitter, capped, and a bound on attempts."""

    max_attempts: int = 5
    base_seconds: float = 30.0
    cap_seconds: float = 900.0
    jitter: float = 0.5
    """The delay is drawn from [delay × (1 − jitter), delay], so retries of one burst spread out."""

    def delay(self, attempts_made: int, rng: random.Random | None = None) -> timedelta:
        """Wait before the next attempt, given attempts already made (1 after the first failure)."""
        exponent = max(0, attempts_made - 1)
        delay = min(self.cap_seconds, self.base_seconds * (2.0 ** min(exponent, 30)))
        draw = (rng or random).random()
        return timedelta(seconds=delay * (1.0 - self.jitter * draw))


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A claimed delivery with everything a channel needs to send it."""

    id: int
    broadcast_id: int
    contact_id: int | None
    address: str
    channel_kind: str
    language: str
    priority: int
    attempts: int
    possible_duplicate: bool
    drill: bool
    text: str
    title: str
    body: str
    expires_at: datetime | None
    route: str
    ack_code: str | None = None
    """The delivery's own secret for an acknowledgement link, when it has one."""


@dataclass(frozen=True, slots=True)
class BroadcastInfo:
    """What every delivery of one broadcast shares; read once per broadcast and cached by the claimer."""

    id: int
    drill: bool
    expires_at: datetime | None
    title: str
    messages: Mapping[str, MessageText]
    default_language: str


@dataclass
class BroadcastCache:
    """Broadcast texts by id. They never change once created, so any process may keep them."""

    limit: int = 512
    entries: dict[int, BroadcastInfo] = field(default_factory=dict)

    def missing(self, ids: set[int]) -> set[int]:
        return {i for i in ids if i not in self.entries}

    def put(self, info: BroadcastInfo) -> None:
        if len(self.entries) >= self.limit:
            self.entries.pop(next(iter(self.entries)))
        self.entries[info.id] = info


@dataclass(frozen=True, slots=True)
class RecordSummary:
    """What one batch write did; receipts that matched nothing yet come back for the caller to hold."""

    applied: int = 0
    stale: int = 0
    """Results for deliveries no longer claimed by this owner (lease recovered by another engine)."""
    receipts_matched: int = 0
    unmatched_receipts: tuple[ReceiptRecord, ...] = ()
