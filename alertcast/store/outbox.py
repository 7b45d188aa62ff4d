"""The durable outbox: a broadcast becomes one Delivery row per recipient × channel kind, and engines claim,
send and record them. The database is the only place a delivery's fate is kept, so any engine can die at
any instant and another (or the same, restarted) picks up from the rows.

This module creates broadcasts; the rest of the API lives in small modules re-exported here:
claiming and leases (:mod:`outbox_claim`), recording results and receipts (:mod:`outbox_results`),
expiry, cancel and housekeeping (:mod:`outbox_admin`), and status/report queries (:mod:`outbox_report`).
Everything on the hot path is SQLAlchemy Core with batched statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from alertcast.core.escalation import EscalationPolicy
from alertcast.store.models import Contact, DeliveryState, utcnow
from alertcast.store.outbox_admin import (
    CancelOutcome,
    cancel_broadcast,
    expire_due,
    inactive_broadcasts,
    mark_done,
    store_inbound,
    sweep_cancelled,
)
from alertcast.store.outbox_claim import (
    claim,
    lease_owners,
    recover_expired_leases,
    recover_owners,
    release_all,
    renew_leases,
)
from alertcast.store.outbox_results import record_results
from alertcast.store.outbox_tx import AUDIT, BROADCAST, DELIVERY, MESSAGE, bulk_insert
from alertcast.store.outbox_types import (
    BroadcastCache,
    BroadcastInfo,
    BroadcastSpec,
    ClaimedDelivery,
    MessageText,
    OutboxError,
    ReceiptRecord,
    Recipient,
    RecordSummary,
    ResultKind,
    ResultRecord,
    RetryPolicy,
)

CONTACT = Contact.__table__  # type: ignore[attr-defined]

__all__ = [
    "BroadcastCache",
    "BroadcastInfo",
    "BroadcastSpec",
    "CancelOutcome",
    "ClaimedDelivery",
    "MessageText",
    "OutboxError",
    "ReceiptRecord",
    "Recipient",
    "RecordSummary",
    "ResultKind",
    "ResultRecord",
    "RetryPolicy",
    "cancel_broadcast",
    "claim",
    "create_broadcast",
    "expire_due",
    "inactive_broadcasts",
    "lease_owners",
    "mark_done",
    "record_results",
    "recover_expired_leases",
    "recover_owners",
    "release_all",
    "renew_leases",
    "store_inbound",
    "sweep_cancelled",
]


Row = tuple[int | None, str, str, str]


def _recipient_rows(
    items: Sequence[Recipient | tuple[int | None, str, str, str]],
    languages: Mapping[str, object],
    default: str,
) -> tuple[dict[int, list[Row]], dict[str, None], int]:
    """Check every recipient and turn it into a (contact_id, address, kind, language) row, in one pass.

    Returns the rows by fallback step, the channel kinds in first-seen order, and how many distinct people
    they reach.
    """
    rows: dict[int, list[Row]] = {}
    kinds: dict[str, None] = {}
    people: set[object] = set()
    for index, item in enumerate(items):
        step = 0
        if isinstance(item, Recipient):
            contact_id, address, kind, language, step = (
                item.contact_id,
                item.address,
                item.channel_kind,
                item.language,
                item.step,
            )
        else:
            try:
                contact_id, address, kind, language = item
            except (TypeError, ValueError) as exc:
                raise OutboxError(
                    f"recipient {index}: expected (contact_id, address, channel_kind, language), got {item!r}"
                ) from exc
        if not isinstance(address, str) or not address.strip():
            raise OutboxError(f"recipient {index}: empty or invalid address {address!r}")
        if not isinstance(kind, str) or not kind:
            raise OutboxError(f"recipient {index} ({address}): empty channel kind")
        if contact_id is not None and (isinstance(contact_id, bool) or not isinstance(contact_id, int)):
            raise OutboxError(
                f"recipient {index} ({address}): contact id must be an integer, got {contact_id!r}"
            )
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise OutboxError(f"recipient {index} ({address}): step must be an integer >= 0, got {step!r}")
        kinds[kind] = None
        people.add(contact_id if contact_id is not None else address)
        rows.setdefault(step, []).append(
            (contact_id, address, kind, language if language in languages else default)
        )
    return rows, kinds, len(people)


def _missing(connection: Connection, rows: list[Row], exc: IntegrityError) -> str:
    """Which contact ids are unknown: PostgreSQL says so itself; SQLite is asked (its transaction survives)."""
    if connection.dialect.name != "sqlite":
        return str(exc.orig).strip().splitlines()[-1]
    known = set(connection.execute(select(CONTACT.c.id)).scalars())
    missing = sorted({r[0] for r in rows if r[0] is not None} - known)
    return "contact id " + ", ".join(map(str, missing[:5]))


def _check_spec(spec: BroadcastSpec) -> str:
    """Refuse a spec that would store an undeliverable broadcast; returns the default language."""
    if not spec.messages:
        raise OutboxError("broadcast: no message text given (messages is empty)")
    for language, message in spec.messages.items():
        if not isinstance(message, MessageText) or not message.sms_text.strip():
            raise OutboxError(f"broadcast: message for language {language!r} has no SMS text")
    default = spec.default_language or next(iter(spec.messages))
    if default not in spec.messages:
        raise OutboxError(f"broadcast: default language {default!r} has no message text")
    if spec.expires_at is not None and spec.expires_at.tzinfo is None:
        raise OutboxError("broadcast: expires_at must be an aware datetime (UTC)")
    if not spec.recipients:
        raise OutboxError("broadcast: no recipients")
    if isinstance(spec.priority, bool) or not isinstance(spec.priority, int):
        raise OutboxError(f"broadcast: priority must be an integer, got {spec.priority!r}")
    if spec.escalation and EscalationPolicy.from_json(spec.escalation) is None:
        raise OutboxError("broadcast: the escalation policy has no steps")
    return default


def create_broadcast(session: Session, spec: BroadcastSpec, *, now: datetime | None = None) -> int:
    """Store a broadcast, its texts and one QUEUED delivery per recipient; returns the broadcast id.

    Runs in the caller's session transaction (commit it, as ``AppContext.session`` does): either the whole
    broadcast exists, with every recipient, or nothing does. Deliveries are written with one executemany.
    """
    default = _check_spec(spec)
    at = now or utcnow()
    by_step, kinds, people = _recipient_rows(spec.recipients, spec.messages, default)
    policy = EscalationPolicy.from_json(spec.escalation)
    connection = session.connection()
    broadcast_id = connection.execute(
        insert(BROADCAST).values(
            created_at=at,
            operator=spec.operator,
            alert_id=spec.alert_id,
            title=spec.title,
            priority=spec.priority,
            drill=spec.drill,
            status="active",
            expires_at=spec.expires_at,
            ack_requested=spec.ack_requested,
            ack_code=spec.ack_code,
            channels=list(spec.channel_kinds or kinds),
            recipients=people,
            escalation=policy.to_json() if policy else {},
        )
    ).inserted_primary_key[0]
    connection.execute(
        insert(MESSAGE),
        [
            {
                "broadcast_id": broadcast_id,
                "language": lang,
                "sms_text": m.sms_text,
                "title": m.title,
                "body": m.body,
            }
            for lang, m in spec.messages.items()
        ],
    )
    constants = {
        "broadcast_id": broadcast_id,
        "drill": spec.drill,
        "priority": spec.priority,
        "state": DeliveryState.QUEUED.value,
        "attempts": 0,
        "possible_duplicate": False,
        "queued_at": at,
        "next_attempt_at": at,
    }
    rows: list[Row] = []
    columns = ("contact_id", "address", "channel_kind", "language")
    try:
        for step, group in sorted(by_step.items()):
            rows.extend(group)
            # Deliveries with a later fallback step are watched by the escalation sweep from the start.
            watch = at + policy.first_look if policy and policy.has_later_step(step) else None
            bulk_insert(
                connection, DELIVERY, columns, group, {**constants, "step": step, "escalate_at": watch}
            )
    except IntegrityError as exc:
        raise OutboxError(
            f"recipients name a contact that does not exist ({_missing(connection, rows, exc)})"
        ) from exc
    connection.execute(
        insert(AUDIT).values(
            at=at,
            actor=spec.operator,
            action="broadcast.create",
            subject=f"broadcast:{broadcast_id}",
            detail={
                "title": spec.title,
                "deliveries": sum(len(group) for group in by_step.values()),
                "recipients": people,
                "priority": spec.priority,
                "drill": spec.drill,
                "channels": list(kinds),
                "alert_id": spec.alert_id,
            },
        )
    )
    return int(broadcast_id)
