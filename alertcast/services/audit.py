"""The append-only audit log: who did what, when. Written in the same transaction as the action."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from alertcast.store.models import AuditEntry, utcnow

_INSERT = insert(AuditEntry.__table__)  # type: ignore[attr-defined]


def record(session: Session, actor: str, action: str, subject: str = "", **detail: Any) -> None:
    """Append one entry in the session's transaction (a plain insert: the ORM's flush costs more than it)."""
    session.connection().execute(
        _INSERT, {"at": utcnow(), "actor": actor, "action": action, "subject": subject, "detail": detail}
    )
