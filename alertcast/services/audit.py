"""The append-only audit log: who did what, when. Written in the same transaction as the action."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from alertcast.store.models import AuditEntry, utcnow


def record(session: Session, actor: str, action: str, subject: str = "", **detail: Any) -> None:
    session.add(AuditEntry(at=utcnow(), actor=actor, action=action, subject=subject, detail=detail))
