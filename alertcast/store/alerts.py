"""Keeping ingested alerts: one row per (sender, identifier, sent), references linked both ways.

Feeds repeat themselves and arrive out of order, so two rules matter here. A repeat of an alert already
stored is a duplicate and is never stored (or broadcast) again: the unique key decides, even between two
processes. And a reference is kept even when its target is unknown; when the target arrives later it is
linked then, so a Cancel that overtook its alert still cancels it on arrival.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from alertcast.core.cap_json import alert_to_json
from alertcast.core.cap_model import Alert
from alertcast.store.models import Alert as AlertRow
from alertcast.store.models import AlertReference, utcnow

CANCELLING = "Cancel"
SUPERSEDING = "Update"
COSTLY_MODEL_POINTS = 256
"""Polygon points above which an alert's JSON model costs more to build than a look-up for a duplicate."""


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


_ALERTS = AlertRow.__table__
_REFS = AlertReference.__table__
# Statements are built once: SQLAlchemy memoizes their cache keys, so running one costs a bind and an
# execute rather than a build and a compile-cache lookup (ingest of a feed burst stores many alerts).
_FIND = select(_ALERTS.c.id).where(
    _ALERTS.c.sender == bindparam("k_sender"),
    _ALERTS.c.identifier == bindparam("k_identifier"),
    _ALERTS.c.sent == bindparam("k_sent"),
)
_WAITING = (
    select(_REFS.c.id, _REFS.c.alert_id, _ALERTS.c.msg_type)
    .join(_ALERTS, _ALERTS.c.id == _REFS.c.alert_id)
    .where(
        _REFS.c.target_id.is_(None),
        _REFS.c.ref_sender == bindparam("k_sender"),
        _REFS.c.ref_identifier == bindparam("k_identifier"),
        _REFS.c.ref_sent == bindparam("k_sent"),
    )
)
_LINK = update(_REFS).where(_REFS.c.id == bindparam("k_ref")).values(target_id=bindparam("k_target"))
_CANCEL = (
    update(_ALERTS)
    .where(_ALERTS.c.id == bindparam("k_target"))
    .values(cancelled=True, cancelled_by=bindparam("k_by"))
)
_SUPERSEDE = (
    update(_ALERTS).where(_ALERTS.c.id == bindparam("k_target")).values(superseded_by=bindparam("k_by"))
)
_ADD_REFERENCE = insert(_REFS)
_INSERT = {
    name: dialect_insert(_ALERTS)
    .on_conflict_do_nothing(index_elements=["sender", "identifier", "sent"])
    .returning(_ALERTS.c.id)
    for name, dialect_insert in (("sqlite", sqlite_insert), ("postgresql", postgresql_insert))
}


def find_alert_id(session: Session, sender: str, identifier: str, sent: str) -> int | None:
    key = {"k_sender": sender, "k_identifier": identifier, "k_sent": sent}
    return session.connection().execute(_FIND, key).scalar()


def _polygon_points(alert: Alert) -> int:
    return sum(len(polygon) for info in alert.infos for area in info.areas for polygon in area.polygons)


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
    if _polygon_points(alert) > COSTLY_MODEL_POINTS:
        # Feeds repeat national alerts whose polygons run to thousands of points: recognise a repeat
        # before serialising its model for an insert that would do nothing. The insert below still
        # decides when another process stores the same alert meanwhile.
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
    connection = session.connection()
    new_id = connection.execute(_INSERT[connection.dialect.name], values).scalar()
    if new_id is None:
        return StoredAlert(find_alert_id(session, sender, identifier, sent) or 0, duplicate=True)
    result = StoredAlert(new_id)
    _link_outgoing(connection, alert, new_id, result)
    _link_incoming(connection, (sender, identifier, sent), new_id, result)
    return result


def _link_outgoing(connection: Connection, alert: Alert, alert_id: int, result: StoredAlert) -> None:
    for ref in alert.references:
        ref_sent = ref.sent.isoformat()
        key = {"k_sender": ref.sender, "k_identifier": ref.identifier, "k_sent": ref_sent}
        target = connection.execute(_FIND, key).scalar()
        connection.execute(
            _ADD_REFERENCE,
            {
                "alert_id": alert_id,
                "ref_sender": ref.sender,
                "ref_identifier": ref.identifier,
                "ref_sent": ref_sent,
                "target_id": target,
            },
        )
        if target is None:
            result.unknown_references.append(f"{ref.sender},{ref.identifier},{ref_sent}")
            continue
        _apply(connection, alert.msg_type, alert_id, target, result)


def _link_incoming(
    connection: Connection, key: tuple[str, str, str], alert_id: int, result: StoredAlert
) -> None:
    """Earlier alerts that referenced this one before it arrived: link them now and apply their effect."""
    sender, identifier, sent = key
    waiting = connection.execute(
        _WAITING, {"k_sender": sender, "k_identifier": identifier, "k_sent": sent}
    ).all()
    for ref_id, referrer, msg_type in waiting:
        connection.execute(_LINK, {"k_ref": ref_id, "k_target": alert_id})
        _apply(connection, msg_type, referrer, alert_id, result)


def _apply(connection: Connection, msg_type: str, referrer: int, target: int, result: StoredAlert) -> None:
    if msg_type == CANCELLING:
        connection.execute(_CANCEL, {"k_target": target, "k_by": referrer})
        result.cancelled.append(target)
    elif msg_type == SUPERSEDING:
        connection.execute(_SUPERSEDE, {"k_target": target, "k_by": referrer})
        result.superseded.append(target)
