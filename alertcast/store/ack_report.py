"""Who has acknowledged a broadcast, who has not, and how fast acknowledgements came in.

Counted per person, not per delivery: someone reached by SMS and then by e-mail is one recipient, and
acknowledges once. A person's state is the best of their deliveries: acknowledged, then delivered, then
sent (with the transport, no receipt yet), then pending (still queued), then failed, then not sent
(cancelled or expired before any attempt).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from alertcast.store.ack_records import CONTACT, Target, run_read
from alertcast.store.models import DeliveryState
from alertcast.store.outbox_tx import ACK, BROADCAST, DELIVERY
from alertcast.store.outbox_types import OutboxError

S = DeliveryState
_d, _b, _a, _c = DELIVERY.c, BROADCAST.c, ACK.c, CONTACT.c

_RANK = {
    S.ACKNOWLEDGED.value: 6,
    S.DELIVERED.value: 5,
    S.SUBMITTED.value: 4,
    S.QUEUED.value: 3,
    S.CLAIMED.value: 3,
    S.FAILED.value: 2,
    S.EXPIRED.value: 1,
    S.CANCELLED.value: 1,
}
_LABEL = {6: "acknowledged", 5: "delivered", 4: "sent", 3: "pending", 2: "failed", 1: "not sent"}


@dataclass(frozen=True)
class Unacknowledged:
    contact_id: int | None
    name: str
    addresses: tuple[str, ...]
    state: str
    """delivered, sent, pending, failed or not sent."""


@dataclass(frozen=True)
class AckSummary:
    broadcast_id: int
    title: str
    ack_requested: bool
    recipients: int
    acknowledged: int
    delivered: int
    """Delivered and not (yet) acknowledged."""
    sent: int
    pending: int
    failed: int
    not_sent: int
    first_ack_after: timedelta | None
    """From the broadcast's creation to the first acknowledgement."""
    ninety_percent_after: timedelta | None
    """From creation until 90 % of recipients had acknowledged; None while fewer have."""
    not_acknowledged: list[Unacknowledged] = field(default_factory=list)
    """At most ``limit`` of them, those delivered first (the people to call), then by name."""
    not_acknowledged_total: int = 0


def _person(contact_id: int | None, address: str) -> tuple[str, Any]:
    return ("contact", contact_id) if contact_id is not None else ("address", address.lower())


def ack_summary(target: Target, broadcast_id: int, *, limit: int = 1000) -> AckSummary:
    """The acknowledgement picture of one broadcast; OutboxError if there is no such broadcast."""

    def work(connection: Connection) -> AckSummary:
        head = connection.execute(
            select(_b.title, _b.created_at, _b.ack_requested).where(_b.id == broadcast_id)
        ).first()
        if head is None:
            raise OutboxError(f"no broadcast {broadcast_id}")
        best: dict[tuple[str, Any], int] = {}
        addresses: dict[tuple[str, Any], list[str]] = {}
        by_delivery: dict[int, tuple[str, Any]] = {}
        query = select(_d.id, _d.contact_id, _d.address, _d.state).where(_d.broadcast_id == broadcast_id)
        for row in connection.execute(query):
            key = _person(row.contact_id, row.address)
            by_delivery[row.id] = key
            best[key] = max(best.get(key, 0), _RANK.get(row.state, 3))
            addresses.setdefault(key, []).append(row.address)
        first_ack: dict[tuple[str, Any], datetime] = {}
        acks = select(_a.contact_id, _a.delivery_id, _a.received_at).where(
            _a.broadcast_id == broadcast_id, _a.matched.is_(True)
        )
        for row in connection.execute(acks):
            key = (
                ("contact", row.contact_id)
                if row.contact_id is not None
                else by_delivery.get(row.delivery_id)
            )
            if key is None or key not in best or row.received_at is None:
                continue
            best[key] = 6
            first_ack[key] = min(first_ack.get(key, row.received_at), row.received_at)
        counts = {rank: 0 for rank in _LABEL}
        for rank in best.values():
            counts[rank] += 1
        times = sorted(first_ack.values())
        created = head.created_at
        need = math.ceil(0.9 * len(best)) if best else 0
        missing = [key for key, rank in best.items() if rank < 6]
        names = _names(connection, [key[1] for key in missing if key[0] == "contact"])
        rows = [
            Unacknowledged(
                key[1] if key[0] == "contact" else None,
                names.get(key[1], "") if key[0] == "contact" else "",
                tuple(dict.fromkeys(addresses[key])),
                _LABEL[best[key]],
            )
            for key in missing
        ]
        rows.sort(key=lambda u: (-_RANK_OF_LABEL[u.state], u.name, u.addresses))
        return AckSummary(
            broadcast_id=broadcast_id,
            title=head.title,
            ack_requested=bool(head.ack_requested),
            recipients=len(best),
            acknowledged=counts[6],
            delivered=counts[5],
            sent=counts[4],
            pending=counts[3],
            failed=counts[2],
            not_sent=counts[1],
            first_ack_after=times[0] - created if times and created else None,
            ninety_percent_after=times[need - 1] - created
            if created and need and len(times) >= need
            else None,
            not_acknowledged=rows[:limit],
            not_acknowledged_total=len(rows),
        )

    return run_read(target, work)  # type: ignore[no-any-return]


_RANK_OF_LABEL = {label: rank for rank, label in _LABEL.items()}


def _names(connection: Connection, contact_ids: list[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for start in range(0, len(contact_ids), 500):
        chunk = contact_ids[start : start + 500]
        names.update(
            {r.id: r.name for r in connection.execute(select(_c.id, _c.name).where(_c.id.in_(chunk)))}
        )
    return names


@dataclass(frozen=True)
class Reply:
    received_at: datetime | None
    sender: str
    contact_id: int | None
    text: str
    reason: str


@dataclass(frozen=True)
class ReplySummary:
    """The replies linked to one broadcast: acknowledgements, and the ones an operator must read."""

    matched: int
    unmatched: int
    """Replies from people who got the broadcast that were not counted as acknowledgements."""
    opt_out_requests: list[Reply] = field(default_factory=list)
    """Recorded, not applied: whether an emergency channel honours STOP is the operator's decision."""
    help_requests: list[Reply] = field(default_factory=list)
    """Calls for help, alone or inside an acknowledgement (``OK but need help``)."""


def reply_summary(target: Target, broadcast_id: int, *, limit: int = 100) -> ReplySummary:
    """Replies stored with this broadcast (matched, or unmatched with it as context), at most ``limit`` of
    each kind listed."""

    def work(connection: Connection) -> ReplySummary:
        columns = (_a.received_at, _a.sender, _a.contact_id, _a.text, _a.reason, _a.matched)
        matched = unmatched = 0
        opt_outs: list[Reply] = []
        helps: list[Reply] = []
        for row in connection.execute(
            select(*columns).where(_a.broadcast_id == broadcast_id).order_by(_a.id)
        ):
            reply = Reply(row.received_at, row.sender, row.contact_id, row.text, row.reason)
            if row.matched:
                matched += 1
            else:
                unmatched += 1
            if row.reason.startswith("opt-out request") and len(opt_outs) < limit:
                opt_outs.append(reply)
            if ("help request" in row.reason or "asks for help" in row.reason) and len(helps) < limit:
                helps.append(reply)
        return ReplySummary(matched, unmatched, opt_outs, helps)

    return run_read(target, work)  # type: ignore[no-any-return]
