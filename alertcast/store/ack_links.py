"""Per-recipient acknowledgement links: ``https://…/a/<token>``, one unguessable token per delivery.

A token is ``<delivery id in base 36>.<secret>``: the id finds the row by primary key (no index on the
secret needed, however many deliveries there are) and the secret, 96 random bits from :mod:`secrets`
stored in ``Delivery.ack_code``, is compared in constant time. Guessing is hopeless, and a wrong secret and
an unknown id look alike to whoever tries.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from alertcast.store.ack_records import AckOutcome, Target, credit, run_in, run_read, went_out
from alertcast.store.models import DeliveryState, utcnow
from alertcast.store.outbox_tx import ACK, BROADCAST, DELIVERY, execute_many

S = DeliveryState
_d, _b, _a = DELIVERY.c, BROADCAST.c, ACK.c
_TOKEN = re.compile(r"^([0-9a-z]{1,13})\.([A-Za-z0-9_-]{16,64})$")
SECRET_BYTES = 12
"""96 bits; the requirement is at least 64."""
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if number == 0:
            return out


def link_token(delivery_id: int, secret: str) -> str:
    """The token of a delivery whose ``ack_code`` is ``secret`` (what goes after ``/a/`` in the link)."""
    return f"{_base36(delivery_id)}.{secret}"


def parse_token(token: str) -> tuple[int, str] | None:
    match = _TOKEN.match(token)
    if match is None:
        return None
    delivery_id = int(match.group(1), 36)
    return (delivery_id, match.group(2)) if 0 < delivery_id < 2**63 else None


def _id_fits(connection: Connection, delivery_id: int) -> bool:
    """Ids a forged token may carry beyond what the column holds (PostgreSQL's INTEGER is 32-bit) would make
    the database raise; such a token is simply not valid."""
    return connection.dialect.name != "postgresql" or delivery_id < 2**31


def assign_link_tokens(
    target: Target, broadcast_id: int, *, kinds: Iterable[str] | None = None
) -> dict[int, str]:
    """Give every delivery of the broadcast (of ``kinds`` only, when given) that has none a link token;
    returns delivery id → token for all of them, new and existing. Call it when the broadcast is created,
    so every copy of a delivery (retries, restarts) carries the same link."""
    wanted = list(kinds) if kinds is not None else None

    def work(connection: Connection) -> dict[int, str]:
        query = select(_d.id, _d.ack_code).where(_d.broadcast_id == broadcast_id)
        if wanted is not None:
            query = query.where(_d.channel_kind.in_(wanted))
        rows = connection.execute(query).all()
        fresh = [
            {"b_id": r.id, "b_code": secrets.token_urlsafe(SECRET_BYTES)} for r in rows if not r.ack_code
        ]
        statement = (
            update(DELIVERY)
            .where(_d.id == bindparam("b_id"), _d.ack_code.is_(None))
            .values(ack_code=bindparam("b_code"))
        )
        execute_many(connection, statement, fresh)
        codes = {r.id: r.ack_code for r in rows if r.ack_code}
        codes.update({f["b_id"]: f["b_code"] for f in fresh})
        return {i: link_token(i, code) for i, code in codes.items()}

    return run_in(target, work)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LinkInfo:
    """What the confirmation page may show to whoever holds the link."""

    broadcast_id: int
    title: str
    acknowledged: bool


def _row(connection: Connection, token: str) -> Any | None:
    parsed = parse_token(token)
    if parsed is None:
        return None
    delivery_id, secret = parsed
    if not _id_fits(connection, delivery_id):
        return None
    row = connection.execute(
        select(_d.id, _d.broadcast_id, _d.contact_id, _d.address, _d.ack_code, _d.state, _d.attempts,
               _d.possible_duplicate, _b.title)
        .join(BROADCAST, _b.id == _d.broadcast_id)
        .where(_d.id == delivery_id)
    ).first()  # fmt: skip
    stored = (row.ack_code if row is not None else None) or ""
    # Compare even when there is no row, so a missing id costs the same as a wrong secret.
    if not hmac.compare_digest(stored.encode(), secret.encode()) or row is None:
        return None
    if not went_out(row.state, row.attempts, row.possible_duplicate):
        return None  # never sent: nobody can have received this link from us
    return row


def link_info(target: Target, token: str) -> LinkInfo | None:
    """The page's facts for a valid token, or None (unknown, wrong secret, or never sent)."""

    def work(connection: Connection) -> LinkInfo | None:
        row = _row(connection, token)
        if row is None:
            return None
        person = _a.contact_id == row.contact_id if row.contact_id is not None else _a.delivery_id == row.id
        done = connection.execute(
            select(_a.id).where(_a.broadcast_id == row.broadcast_id, _a.matched.is_(True), person).limit(1)
        ).first()
        return LinkInfo(row.broadcast_id, row.title, done is not None)

    return run_read(target, work)  # type: ignore[no-any-return]


def ack_by_token(
    target: Target, token: str, *, at: datetime | None = None, channel: str = "link"
) -> AckOutcome | None:
    """Acknowledge the delivery a link belongs to (idempotent); None for a token that is not valid."""
    when = at or utcnow()

    def work(connection: Connection) -> AckOutcome | None:
        row = _row(connection, token)
        if row is None:
            return None
        return credit(
            connection, row, channel=channel, sender=row.address, text="(confirmed by link)", at=when,
            reason="acknowledged by link",
        )  # fmt: skip

    return run_in(target, work)  # type: ignore[no-any-return]
