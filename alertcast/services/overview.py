"""The numbers the console's header and home screen show."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from alertcast.services.context import AppContext
from alertcast.store.models import Alert, Broadcast, Contact, ContactGroup, Delivery


@dataclass(frozen=True)
class Overview:
    database: str
    contacts: int
    groups: int
    alerts: int
    broadcasts: int
    deliveries: int


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
        )
