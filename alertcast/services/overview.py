"""The numbers the console's header and home screen show."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from alertcast.services.context import AppContext
from alertcast.store.models import Ack, Alert, Broadcast, Contact, ContactGroup, Delivery


@dataclass(frozen=True)
class Overview:
    database: str
    contacts: int
    groups: int
    alerts: int
    broadcasts: int
    deliveries: int
    acks: int = 0
    """Replies matched to a broadcast as acknowledgements."""
    unmatched_replies: int = 0
    """Replies from unknown numbers or with unknown codes, kept for the operator."""


def get_overview(ctx: AppContext) -> Overview:
    with ctx.session() as session:

        def count(model: type) -> int:
            return int(session.execute(select(func.count()).select_from(model)).scalar() or 0)

        return Overview(
            database=ctx.db_label,
            contacts=count(Contact),
            groups=count(ContactGroup),
            alerts=count(Alert),
            broadcasts=count(Broadcast),
            deliveries=count(Delivery),
            acks=int(session.execute(select(func.count()).where(Ack.matched.is_(True))).scalar() or 0),
            unmatched_replies=int(
                session.execute(select(func.count()).where(Ack.matched.is_(False))).scalar() or 0
            ),
        )
