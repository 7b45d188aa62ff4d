"""Recording acknowledgements: the Ack row, the delivery turned ACKNOWLEDGED, and idempotence per person.

Shared by reply matching (:mod:`alertcast.store.acks`) and acknowledgement links
(:mod:`alertcast.store.ack_links`): whichever way a person confirms, and however often, they are counted
once per broadcast.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select, update
from sqlmodel import Session

from alertcast.core.replies import ParsedReply, fold
from alertcast.store.models import Contact, DeliveryState, UTCDateTime
from alertcast.store.outbox_tx import ACK, DELIVERY, run_write

S = DeliveryState
CONTACT: Table = Contact.__table__  # type: ignore[attr-defined]
_d, _a = DELIVERY.c, ACK.c

WENT = frozenset({S.SUBMITTED.value, S.DELIVERED.value, S.ACKNOWLEDGED.value, S.FAILED.value})
"""States of a delivery that reached a transport. QUEUED/CLAIMED count too after an attempt."""
ACKNOWLEDGEABLE = (S.QUEUED.value, S.SUBMITTED.value, S.DELIVERED.value, S.FAILED.value)
"""States an ack may move to ACKNOWLEDGED. A CLAIMED row is left to the engine holding it (its result
would otherwise be dropped as stale); the Ack row still records the match."""

Target = Engine | Session | Connection


def went_out(state: str, attempts: int, possible_duplicate: bool) -> bool:
    """Whether a delivery reached a transport, so its recipient may be answering it."""
    return state in WENT or (
        state in (S.QUEUED.value, S.CLAIMED.value) and bool(attempts or possible_duplicate)
    )


class AckStatus(enum.StrEnum):
    MATCHED = "matched"
    """Credited: the delivery is ACKNOWLEDGED and a matched Ack row was stored."""
    DUPLICATE = "duplicate"
    """This person had already acknowledged this broadcast; nothing changed."""
    UNMATCHED = "unmatched"
    """Kept for the operator (``reason`` says why); nobody was credited."""


@dataclass(frozen=True)
class AckOutcome:
    status: AckStatus
    reason: str
    reply: ParsedReply | None = None
    """What the reply was read as (None for an ack by link)."""
    ack_id: int | None = None
    """The Ack row stored, or for a duplicate the row that first acknowledged."""
    broadcast_id: int | None = None
    delivery_id: int | None = None
    contact_id: int | None = None

    @property
    def matched(self) -> bool:
        return self.status is not AckStatus.UNMATCHED


def run_in(target: Target, work: Callable[[Connection], Any]) -> Any:
    """Run ``work`` in a write transaction of its own (an Engine) or in the caller's (Session, Connection)."""
    if isinstance(target, Engine):
        return run_write(target, work)
    if isinstance(target, Session):
        return work(target.connection())
    return work(target)


def run_read(target: Target, work: Callable[[Connection], Any]) -> Any:
    """Like :func:`run_in` for reads: an Engine gives a plain connection, not a write transaction."""
    if isinstance(target, Engine):
        with target.connect() as connection:
            return work(connection)
    return run_in(target, work)


_INSERT_ACK = insert(ACK)
_PERSON_DELIVERIES = select(_d.id, _d.state).where(
    _d.broadcast_id == bindparam("broadcast"), _d.contact_id == bindparam("contact")
)
_EARLIER = (
    select(_a.id, _a.text, _a.contact_id, _a.delivery_id)
    .where(_a.broadcast_id == bindparam("broadcast"), _a.matched.is_(True))
    .order_by(_a.id)
)
_ACKNOWLEDGE = (
    update(DELIVERY)
    .where(_d.id == bindparam("delivery"), _d.state.in_(ACKNOWLEDGEABLE))
    .values(
        state=S.ACKNOWLEDGED.value, final_at=func.coalesce(_d.final_at, bindparam("at", type_=UTCDateTime()))
    )
)


def store_ack(
    connection: Connection,
    *,
    at: datetime,
    channel: str,
    sender: str,
    text: str,
    matched: bool,
    reason: str,
    **links: int | None,
) -> int:
    values = {"received_at": at, "channel": channel, "sender": sender, "text": text, "matched": matched}
    values.update(reason=reason, **{k: links.get(k) for k in ("broadcast_id", "delivery_id", "contact_id")})
    return int(connection.execute(_INSERT_ACK, values).inserted_primary_key[0])


def _earlier_acks(connection: Connection, row: Any) -> list[Any]:
    """This person's matched acks of this broadcast, oldest first.

    The Ack table is indexed by broadcast only, and a big broadcast has thousands of acks; so look there only
    when one of the person's deliveries is ACKNOWLEDGED (a repeat) or CLAIMED (an ack recorded while an engine
    held it), which the person's few deliveries, found by index, tell at once.
    """
    if row.contact_id is None:
        states = {row.state} if hasattr(row, "state") else {S.ACKNOWLEDGED.value}
    else:
        params = {"broadcast": row.broadcast_id, "contact": row.contact_id}
        states = {r.state for r in connection.execute(_PERSON_DELIVERIES, params)}
    if not states & {S.ACKNOWLEDGED.value, S.CLAIMED.value}:
        return []
    rows = connection.execute(_EARLIER, {"broadcast": row.broadcast_id})
    if row.contact_id is not None:
        return [r for r in rows if r.contact_id == row.contact_id]
    return [r for r in rows if r.delivery_id == row.id]


def credit(
    connection: Connection,
    row: Any,
    *,
    channel: str,
    sender: str,
    text: str,
    at: datetime,
    reason: str,
    reply: ParsedReply | None = None,
) -> AckOutcome:
    """Acknowledge one delivery (a row with id, broadcast_id, contact_id, state): idempotent per person
    and broadcast."""
    links = {"broadcast_id": row.broadcast_id, "delivery_id": row.id, "contact_id": row.contact_id}
    earlier = _earlier_acks(connection, row)
    if earlier:
        first = earlier[0].id
        if fold(text).strip() not in {fold(e.text).strip() for e in earlier}:
            further = f"already acknowledged (ack {first}); a further reply"
            store_ack(
                connection,
                at=at,
                channel=channel,
                sender=sender,
                text=text,
                matched=False,
                reason=further,
                **links,
            )
        return AckOutcome(AckStatus.DUPLICATE, f"already acknowledged (ack {first})", reply, first, **links)
    ack_id = store_ack(
        connection, at=at, channel=channel, sender=sender, text=text, matched=True, reason=reason, **links
    )
    connection.execute(_ACKNOWLEDGE, {"delivery": row.id, "at": at})
    return AckOutcome(AckStatus.MATCHED, reason, reply, ack_id, **links)
