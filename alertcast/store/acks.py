"""Matching replies to the broadcasts and deliveries they answer, and recording acknowledgements.

The rule that matters most: a reply is credited to the person who sent it, for a broadcast that person
actually received, or to nobody. A reply from an unknown number, with an unknown code, or with a code of a
broadcast this sender never got, is kept unmatched (``Ack.matched`` false, ``reason`` says why) for the
operator to read; it is never credited to someone else.

- With a code (``ACK 7F3K``): the broadcast with that code (or the delivery with that per-recipient code),
  among those sent to this sender, newest first.
- Without: the newest broadcast asking for an acknowledgement sent to this sender within
  ``match_window_hours``.

"Sent to this sender" means a delivery to one of the sender's contacts (found by phone, in any of the forms
SMSCs write numbers, or by e-mail) that went out: submitted, delivered, failed after an attempt, or queued
again after one. A match marks that delivery ACKNOWLEDGED (its times kept) and stores the Ack linked to
broadcast, delivery and contact. Acknowledging twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select, and_, bindparam, func, or_, select

from alertcast.config import Config
from alertcast.core.replies import ParsedReply, ReplyIntent, describe, parse_reply, sender_forms
from alertcast.store.ack_records import (
    CONTACT,
    AckOutcome,
    AckStatus,
    S,
    Target,
    credit,
    run_in,
    store_ack,
    went_out,
)
from alertcast.store.ack_settings import AckSettings
from alertcast.store.models import UTCDateTime, utcnow
from alertcast.store.outbox_tx import BROADCAST, DELIVERY, run_write

_d, _b, _c = DELIVERY.c, BROADCAST.c, CONTACT.c

__all__ = ["AckOutcome", "AckSettings", "AckStatus", "record_replies", "record_reply", "reply_handler"]


class ReplyLike(Protocol):
    """An inbound message as channels report it (``alertcast.channels.base.InboundMessage`` fits)."""

    @property
    def channel(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def received_at(self) -> datetime: ...


@dataclass
class _Candidate:
    """One delivery to the sender, with what the choice needs of its broadcast."""

    row: Any
    keys: tuple[str, ...]

    @property
    def went(self) -> bool:
        return went_out(self.row.state, self.row.attempts, self.row.possible_duplicate)

    def rank(self) -> tuple[bool, int, int, int]:
        """Which of a person's deliveries of one broadcast to credit: the one to the address replied from,
        then one known delivered, then the latest step (a fallback), then the newest."""
        r = self.row
        state = {S.DELIVERED.value: 3, S.ACKNOWLEDGED.value: 3, S.SUBMITTED.value: 2}.get(r.state, 1)
        return (r.address.lower() in self.keys, state, r.step, r.id)


@dataclass
class _Sender:
    keys: tuple[str, ...]
    contacts: dict[int, Any] = field(default_factory=dict)

    @property
    def language(self) -> str | None:
        return next((c.language for c in self.contacts.values() if c.language), None)


# Statements are built once: building one costs more than SQLite takes to run it, and a reply storm runs
# each of them thousands of times.
_KEYS = bindparam("keys", expanding=True)
_FIND_CONTACTS = select(_c.id, _c.name, _c.language).where(or_(_c.phone.in_(_KEYS), _c.email.in_(_KEYS)))


def _find_sender(connection: Connection, sender: str, region: str) -> _Sender:
    keys = tuple(k.lower() for k in sender_forms(sender, region))
    rows = connection.execute(_FIND_CONTACTS, {"keys": list(keys)}).all()
    return _Sender(keys, {r.id: r for r in rows})


_COLUMNS = (
    _d.id, _d.broadcast_id, _d.contact_id, _d.address, _d.state, _d.attempts, _d.possible_duplicate,
    _d.step, _d.ack_code, _b.created_at, _b.ack_requested, _b.ack_code.label("broadcast_code"),
)  # fmt: skip


def _deliveries_query(by_contact: bool, by_code: bool) -> Select[Any]:
    if by_contact:
        person = _d.contact_id.in_(bindparam("contacts", expanding=True))
    else:
        person = and_(_d.contact_id.is_(None), func.lower(_d.address).in_(bindparam("keys", expanding=True)))
    codes = _b.ack_code.in_(bindparam("codes", expanding=True))
    if by_code:
        # Per-recipient codes (Delivery.ack_code) are looked at for contacts only: found through the contact
        # index; for a bare address it would mean reading every delivery.
        broadcasts = or_(codes, _d.ack_code.is_not(None)) if by_contact else codes
    else:
        broadcasts = and_(
            _b.ack_requested.is_(True), _b.created_at >= bindparam("since", type_=UTCDateTime())
        )
    return select(*_COLUMNS).join(BROADCAST, _b.id == _d.broadcast_id).where(person, broadcasts)


_DELIVERIES = {
    (contact, code): _deliveries_query(contact, code) for contact in (True, False) for code in (True, False)
}


def _deliveries(
    connection: Connection, who: _Sender, *, codes: Sequence[str] = (), since: datetime | None = None
) -> list[_Candidate]:
    """The sender's deliveries of broadcasts with one of ``codes``, or else of broadcasts asking for an
    acknowledgement created ``since``: by contact when the sender is one (indexed), else by address."""
    statement = _DELIVERIES[(bool(who.contacts), bool(codes))]
    params: dict[str, Any] = {"contacts": list(who.contacts), "keys": list(who.keys)}
    params.update({"codes": list(codes)} if codes else {"since": since})
    return [_Candidate(row, who.keys) for row in connection.execute(statement, params)]


def _newest(candidates: Iterable[_Candidate]) -> list[_Candidate]:
    """The deliveries of the newest broadcast among ``candidates``."""
    pool = list(candidates)
    if not pool:
        return []
    newest = max(pool, key=lambda c: (c.row.created_at, c.row.broadcast_id)).row.broadcast_id
    return [c for c in pool if c.row.broadcast_id == newest]


def _unmatched(
    connection: Connection,
    reason: str,
    *,
    channel: str,
    sender: str,
    text: str,
    at: datetime,
    reply: ParsedReply | None,
    context: _Candidate | None = None,
    contact_id: int | None = None,
) -> AckOutcome:
    """Keep a reply for the operator. ``context`` (a broadcast this person did get) is shown with it, but
    the row is not matched and nothing is credited."""
    links = {
        "broadcast_id": context.row.broadcast_id if context else None,
        "delivery_id": context.row.id if context else None,
        "contact_id": context.row.contact_id if context else contact_id,
    }
    ack_id = store_ack(
        connection, at=at, channel=channel, sender=sender, text=text, matched=False, reason=reason, **links
    )
    return AckOutcome(AckStatus.UNMATCHED, reason, reply, ack_id, **links)


def _match(
    connection: Connection,
    channel: str,
    sender: str,
    text: str,
    at: datetime,
    settings: AckSettings,
) -> AckOutcome:
    who = _find_sender(connection, sender, settings.default_region)
    reply = parse_reply(text, language=who.language, words=settings.words, codes=settings.codes)
    keep: dict[str, Any] = {"channel": channel, "sender": sender, "text": text, "at": at, "reply": reply}
    known = next(iter(who.contacts), None) if len(who.contacts) == 1 else None
    if reply.intent is not ReplyIntent.ACK or not reply.codes:
        recent_went = [c for c in _deliveries(connection, who, since=at - settings.match_window) if c.went]
        newest = _newest(recent_went)
        context = max(newest, key=_Candidate.rank) if newest else None
        if reply.intent is not ReplyIntent.ACK:
            return _unmatched(connection, describe(reply), context=context, contact_id=known, **keep)
        if context is None:
            what = (
                "unknown sender"
                if not who.contacts
                else "no broadcast asked this sender for an acknowledgement"
            )
            window = settings.match_window.total_seconds() / 3600
            return _unmatched(connection, f"{what} in the last {window:g} h", contact_id=known, **keep)
        return _one_person(connection, newest, context, describe(reply), keep)
    codes = list(reply.codes)
    went = [c for c in _deliveries(connection, who, codes=codes) if c.went]
    for code in codes:
        hits = [
            c
            for c in went
            if c.row.broadcast_code == code
            or (c.row.ack_code and settings.codes.canonical(c.row.ack_code) == code)
        ]
        newest = _newest(hits)
        if newest:
            return _one_person(
                connection, newest, max(newest, key=_Candidate.rank), describe(reply, [code]), keep
            )
    exists = connection.execute(select(_b.id).where(_b.ack_code.in_(codes)).limit(1)).first()
    listed = ", ".join(codes)
    if exists is not None:
        reason = f"code {listed} is from a broadcast not sent to this sender: not credited"
    else:
        reason = f"unknown code {listed}" + ("" if who.contacts else " from an unknown sender")
    return _unmatched(connection, reason, contact_id=known, **keep)


def _one_person(
    connection: Connection,
    deliveries: list[_Candidate],
    chosen: _Candidate,
    reason: str,
    keep: dict[str, Any],
) -> AckOutcome:
    """Credit ``chosen`` unless the sender's number or address belongs to several people who all got this
    broadcast (a shared family e-mail): then nobody is credited."""
    people = {c.row.contact_id for c in deliveries if c.row.contact_id is not None}
    if len(people) > 1:
        return _unmatched(connection, f"sender shared by contacts {sorted(people)}: not credited", **keep)
    return credit(connection, chosen.row, reason=reason, **keep)


def record_reply(
    target: Target,
    channel: str,
    sender: str,
    text: str,
    received_at: datetime | None = None,
    *,
    recipient: str | None = None,
    config: AckSettings | Config | None = None,
) -> AckOutcome:
    """Match one reply and record it (see the module docstring for the rules).

    ``target``: an Engine (own transaction) or a Session/Connection (the caller's). ``recipient`` (the
    number the reply was sent to) is accepted for the channels that know it; matching does not need it.
    """
    settings = (
        config
        if isinstance(config, AckSettings)
        else AckSettings.from_config(config)
        if config
        else AckSettings()
    )
    at = received_at or utcnow()
    return run_in(target, lambda connection: _match(connection, channel, sender, text, at, settings))


def record_replies(engine: Engine, messages: Sequence[ReplyLike], settings: AckSettings) -> list[AckOutcome]:
    """Match a batch of replies in one transaction, in order (so a repeated reply finds the first)."""
    if not messages:
        return []

    def work(connection: Connection) -> list[AckOutcome]:
        return [_match(connection, m.channel, m.sender, m.text, m.received_at, settings) for m in messages]

    return run_write(engine, work)  # type: ignore[no-any-return]


def reply_handler(settings: AckSettings) -> Callable[[Engine, Sequence[ReplyLike]], None]:
    """An engine inbound handler (``alertcast.engine.inbound.InboundHandler``) that matches replies."""

    def handle(engine: Engine, messages: Sequence[ReplyLike]) -> None:
        record_replies(engine, messages, settings)

    return handle
