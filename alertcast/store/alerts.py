"""Keeping ingested alerts: one row per (sender, identifier, sent), references linked both ways.

Feeds repeat themselves and arrive out of order, so two rules matter here. A repeat of an alert already
stored is a duplicate and is never stored (or broadcast) again: the unique key decides, even between two
processes. And a reference is kept even when its target is unknown; when the target arrives later it is
linked then, so a Cancel that overtook its alert still cancels it on arrival.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from alertcast.core.cap_json import alert_to_json
from alertcast.core.cap_model import Alert
from alertcast.store.models import Alert as AlertRow
from alertcast.store.models import AlertReference, utcnow

CANCELLING = "Cancel"
SUPERSEDING = "Update"


@dataclass
class StoredAlert:
    """What storing one alert did."""

    alert_id: int
    duplicate: bool = False
    cancelled: list[int] = field(default_factory=list)
    """Stored alerts this one cancelled (its own Cancel, or an earlier Cancel that referenced it)."""
    superseded: list[int] = field(default_factory=list)
    unknown_references: list[str] = field(default_factory=list)
    """References to alerts not (yet) stored, as ``sender,identifier,sent``; kept and flagged."""


def alert_key_text(alert: Alert) -> tuple[str, str, str]:
    return alert.sender, alert.identifier, alert.sent.isoformat()


def find_alert_id(session: Session, sender: str, identifier: str, sent: str) -> int | None:
    return session.execute(
        select(AlertRow.id).where(
            AlertRow.sender == sender, AlertRow.identifier == identifier, AlertRow.sent == sent
        )
    ).scalar()


def _first_info_fields(alert: Alert) -> dict[str, str]:
    info = alert.infos[0] if alert.infos else None
    if info is None:
        return {}
    return {
        "event": info.event,
        "headline": info.headline or "",
        "severity": info.severity,
        "urgency": info.urgency,
        "certainty": info.certainty,
    }


def store_alert(
    session: Session,
    alert: Alert,
    *,
    raw_xml: bytes,
    source: str,
    warnings: list[str],
    public: bool,
    drill_only: bool,
    now: datetime | None = None,
) -> StoredAlert:
    """Store ``alert`` unless it is a duplicate, and link its references (and earlier ones to it)."""
    sender, identifier, sent = alert_key_text(alert)
    existing = find_alert_id(session, sender, identifier, sent)
    if existing is not None:
        return StoredAlert(existing, duplicate=True)
    values = dict(
        sender=sender,
        identifier=identifier,
        sent=sent,
        sent_at=alert.sent,
        version=alert.version,
        status=alert.status,
        msg_type=alert.msg_type,
        scope=alert.scope,
        expires_at=alert.expires,
        source=source,
        raw_xml=raw_xml,
        model=alert_to_json(alert),
        warnings=warnings,
        public=public,
        drill_only=drill_only,
        received_at=now or utcnow(),
        cancelled=False,
        **{"event": "", "headline": "", "severity": "", "urgency": "", "certainty": ""}
        | _first_info_fields(alert),
    )
    # ON CONFLICT rather than a savepoint: another process may store the same alert between our check and
    # our insert, and pysqlite's SAVEPOINT handling would commit the outer transaction (breaking dry runs).
    table = AlertRow.__table__
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    statement = (
        insert(table).values(values).on_conflict_do_nothing(index_elements=["sender", "identifier", "sent"])
    )
    new_id = session.execute(statement.returning(table.c.id)).scalar()
    if new_id is None:
        return StoredAlert(find_alert_id(session, sender, identifier, sent) or 0, duplicate=True)
    row = session.get_one(AlertRow, new_id)
    result = StoredAlert(row.id)
    _link_outgoing(session, alert, row, result)
    _link_incoming(session, row, result)
    return result


def _link_outgoing(session: Session, alert: Alert, row: AlertRow, result: StoredAlert) -> None:
    for ref in alert.references:
        ref_sent = ref.sent.isoformat()
        target = find_alert_id(session, ref.sender, ref.identifier, ref_sent)
        session.add(
            AlertReference(
                alert_id=row.id,
                ref_sender=ref.sender,
                ref_identifier=ref.identifier,
                ref_sent=ref_sent,
                target_id=target,
            )
        )
        if target is None:
            result.unknown_references.append(f"{ref.sender},{ref.identifier},{ref_sent}")
            continue
        _apply(session, row.msg_type, row.id, target, result)


def _link_incoming(session: Session, row: AlertRow, result: StoredAlert) -> None:
    """Earlier alerts that referenced this one before it arrived: link them now and apply their effect."""
    waiting = session.execute(
        select(AlertReference.id, AlertReference.alert_id, AlertRow.msg_type)
        .join(AlertRow, AlertRow.id == AlertReference.alert_id)
        .where(
            AlertReference.target_id.is_(None),
            AlertReference.ref_sender == row.sender,
            AlertReference.ref_identifier == row.identifier,
            AlertReference.ref_sent == row.sent,
        )
    ).all()
    for ref_id, referrer, msg_type in waiting:
        session.execute(update(AlertReference).where(AlertReference.id == ref_id).values(target_id=row.id))
        _apply(session, msg_type, referrer, row.id or 0, result)


def _apply(session: Session, msg_type: str, referrer: int, target: int, result: StoredAlert) -> None:
    if msg_type == CANCELLING:
        session.execute(
            update(AlertRow).where(AlertRow.id == target).values(cancelled=True, cancelled_by=referrer)
        )
        result.cancelled.append(target)
    elif msg_type == SUPERSEDING:
        session.execute(update(AlertRow).where(AlertRow.id == target).values(superseded_by=referrer))
        result.superseded.append(target)
