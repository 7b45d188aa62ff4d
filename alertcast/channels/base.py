"""The one small interface every transport sits behind.

The engine never knows whether a message leaves through SMPP, a modem bank, Apprise or the drill sink: it
hands a channel :class:`OutboundMessage` batches up to the channel's free capacity and hears back through
:class:`ChannelEvents`. Results come back asynchronously because real transports pipeline (an SMPP window
of 50 submits has 50 answers outstanding), and they come back on the event loop thread: a channel whose
library blocks (smpplib, pyserial) runs it in owner threads and crosses over with
``loop.call_soon_threadsafe``, so no state is ever shared between threads.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class Outcome(enum.Enum):
    """What became of one message handed to a channel."""

    SUBMITTED = "submitted"
    """The transport accepted it (an SMSC answered ESME_ROK, a modem gave +CMGS); a receipt may follow."""
    DELIVERED = "delivered"
    """Final success known at once (webhook 2xx, mail accepted by the server, drill sink)."""
    RETRY = "retry"
    """A temporary failure: the engine retries after a back-off, counting an attempt."""
    FAILED = "failed"
    """A permanent failure (invalid number, barred): never retried on this channel; fallback may follow."""
    REQUEUE = "requeue"
    """Not known to have been attempted (connection lost, modem pulled, channel stopping): queue again
    without counting an attempt. ``possible_duplicate`` says whether it may already have gone out."""


class ChannelKind(enum.StrEnum):
    """The kind of address a channel takes; routing picks channels by kind."""

    SMS = "sms"
    APPRISE = "apprise"
    DRILL = "drill"


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One delivery's message, as the engine hands it to a channel."""

    delivery_id: int
    address: str
    """E.164 number for SMS; an Apprise URL or e-mail address for Apprise."""
    text: str
    """The SMS (or short) text, already rendered, drill marker included."""
    priority: int = 0
    """Higher is more urgent (see :mod:`alertcast.core.priority`)."""
    drill: bool = False
    title: str | None = None
    """Title for long-form channels (e-mail subject, chat title)."""
    body: str | None = None
    """Long-form text for channels that take it; ``text`` is used when absent."""
    expires_at: datetime | None = None
    broadcast_id: int | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """The answer for one :class:`OutboundMessage`."""

    delivery_id: int
    outcome: Outcome
    provider_id: str | None = None
    """The transport's id for the message (SMPP message_id, modem reference), used to match receipts."""
    error: str | None = None
    """A reason a person can read, e.g. ``"ESME_RINVDSTADR (0x0B): invalid destination"``."""
    possible_duplicate: bool = False
    parts: int = 1


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt (SMPP deliver_sm receipt, modem +CDS status report)."""

    channel: str
    provider_ids: tuple[str, ...]
    """Every form the id may have been stored in (SMSCs disagree on hex/decimal and leading zeros)."""
    delivered: bool
    status: str
    """The transport's word for the final state, e.g. ``DELIVRD`` or ``UNDELIV``."""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a person to us: a reply that may acknowledge an alert."""

    channel: str
    sender: str
    text: str
    received_at: datetime
    recipient: str | None = None


@dataclass(frozen=True, slots=True)
class RouteState:
    """Whether a channel can take messages now, and why not when it cannot."""

    up: bool
    reason: str = ""


class ChannelEvents(Protocol):
    """What a channel reports to; implemented by the engine. Always called on the event loop thread."""

    def on_results(self, channel: str, results: Sequence[SendResult]) -> None: ...

    def on_receipts(self, receipts: Sequence[Receipt]) -> None: ...

    def on_inbound(self, messages: Sequence[InboundMessage]) -> None: ...

    def on_state(self, channel: str, state: RouteState) -> None: ...


@dataclass
class ChannelStats:
    """Counters a channel keeps for status screens and benchmarks."""

    handed: int = 0
    submitted: int = 0
    failed: int = 0
    retried: int = 0
    requeued: int = 0
    receipts: int = 0
    inbound: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Channel(abc.ABC):
    """A transport adapter.

    Life cycle: ``await start(events)`` once, then any number of ``send`` calls, then ``await stop()``.
    ``stop`` must report every message it still holds as REQUEUE (``possible_duplicate`` when it may have
    left), so a shutdown never loses a recipient.
    """

    kind: ChannelKind = ChannelKind.SMS

    def __init__(self, name: str, *, drill_route: bool = False) -> None:
        self.name = name
        self.drill_route = drill_route
        """A route marked for drills may carry drill messages; the engine refuses drills on any other."""
        self.stats = ChannelStats()

    @abc.abstractmethod
    async def start(self, events: ChannelEvents) -> None:
        """Connect/open and begin reporting. Must not block the event loop."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop, handing back everything not finished as REQUEUE results."""

    @abc.abstractmethod
    def capacity(self) -> int:
        """How many more messages the channel can take right now (free window slots, idle modems...)."""

    @abc.abstractmethod
    def send(self, messages: Sequence[OutboundMessage]) -> None:
        """Take messages (at most ``capacity()``); never blocks. Results arrive through ``on_results``."""

    @property
    @abc.abstractmethod
    def state(self) -> RouteState:
        """Up, or down with the reason (bind refused, no healthy modem...)."""
