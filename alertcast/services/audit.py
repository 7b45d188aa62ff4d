"""The append-only audit log: who did what, when. Written in the same transaction as the action."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from alertcast.store.models import AuditEntry, utcnow

_INSERT = insert(AuditEntry.__table__)  # type: ignore[attr-defined]


def _entry(actor: str, action: str, subject: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"at": utcnow(), "actor": actor, "action": action, "subject": subject, "detail": detail}


def record(session: Session, actor: str, action: str, subject: str = "", **detail: Any) -> None:
    """Append one entry in the session's transaction (a plain insert: the ORM's flush costs more than it)."""
    session.connection().execute(_INSERT, _entry(actor, action, subject, detail))


class AuditBatch:
    """Entries noted while one transaction runs, written together by :meth:`write` before it commits.

    One multi-row insert instead of a statement per entry: an ingest run audits every alert it stores.
    Each entry keeps the time it was noted, and entries are written in the order they were noted.
    """

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []

    def add(self, actor: str, action: str, subject: str = "", **detail: Any) -> None:
        self._entries.append(_entry(actor, action, subject, detail))

    def write(self, session: Session) -> None:
        if self._entries:
            session.connection().execute(_INSERT, self._entries)
            self._entries = []
