"""Read-only outbox queries: open work (for ``run --until-idle``), broadcast status and per-recipient reports."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Integer, cast, func, or_, select

from alertcast.store.models import Contact, DeliveryState, utcnow
from alertcast.store.outbox_tx import BROADCAST, DELIVERY

S = DeliveryState
_d, _b = DELIVERY.c, BROADCAST.c
CONTACT = Contact.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class OpenWork:
    """Deliveries not finished, by what would have to carry them."""

    state: str
    channel_kind: str
    drill: bool
    count: int


def open_work(engine: Engine, now: datetime | None = None) -> list[OpenWork]:
    """QUEUED deliveries of active, unexpired broadcasts, and every CLAIMED delivery, counted by
    (state, kind, drill). Queued work of cancelled or expired broadcasts is housekeeping, not work."""
    at = now or utcnow()
    live_broadcast = (_b.status == "active") & or_(_b.expires_at.is_(None), _b.expires_at > at)
    queued = (
        select(_d.state, _d.channel_kind, _d.drill, func.count())
        .select_from(DELIVERY.join(BROADCAST, _b.id == _d.broadcast_id))
        .where(_d.state == S.QUEUED.value, live_broadcast)
        .group_by(_d.state, _d.channel_kind, _d.drill)
    )
    claimed = (
        select(_d.state, _d.channel_kind, _d.drill, func.count())
        .where(_d.state == S.CLAIMED.value)
        .group_by(_d.state, _d.channel_kind, _d.drill)
    )
    with engine.connect() as connection:
        rows = [*connection.execute(queued), *connection.execute(claimed)]
    return [OpenWork(r[0], r[1], bool(r[2]), int(r[3])) for r in rows]


def awaiting_receipts(engine: Engine, since: datetime, routes: list[str]) -> int:
    """Deliveries submitted on these routes since ``since`` and still without a receipt."""
    query = select(func.count()).where(
        _d.state == S.SUBMITTED.value, _d.submitted_at >= since, _d.route.in_(routes)
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def broadcast_state_counts(engine: Engine, ids: list[int]) -> dict[int, dict[str, int]]:
    """Per-state delivery counts of these broadcasts (one grouped query)."""
    found: dict[int, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return found
    query = (
        select(_d.broadcast_id, _d.state, func.count())
        .where(_d.broadcast_id.in_(ids))
        .group_by(_d.broadcast_id, _d.state)
    )
    with engine.connect() as connection:
        for broadcast_id, state, n in connection.execute(query):
            found[broadcast_id][state] = n
    return found


@dataclass
class BroadcastCounts:
    """One broadcast and its deliveries counted by state, by channel kind and by route."""

    id: int
    title: str
    status: str
    priority: int
    drill: bool
    operator: str
    created_at: datetime | None
    expires_at: datetime | None
    cancelled_at: datetime | None
    recipients: int
    deliveries: int = 0
    states: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    by_route: dict[str, dict[str, int]] = field(default_factory=dict)
    possible_duplicates: int = 0
    attempts: int = 0


def _broadcast_row(row: Any) -> BroadcastCounts:
    return BroadcastCounts(
        id=row.id,
        title=row.title,
        status=row.status,
        priority=row.priority,
        drill=bool(row.drill),
        operator=row.operator,
        created_at=row.created_at,
        expires_at=row.expires_at,
        cancelled_at=row.cancelled_at,
        recipients=row.recipients,
    )


def broadcast_counts(engine: Engine, broadcast_id: int) -> BroadcastCounts | None:
    with engine.connect() as connection:
        row = connection.execute(select(BROADCAST).where(_b.id == broadcast_id)).first()
        if row is None:
            return None
        counts = _broadcast_row(row)
        grouped = connection.execute(
            select(
                _d.state,
                _d.channel_kind,
                _d.route,
                func.count(),
                func.sum(_d.attempts),
                func.sum(cast(_d.possible_duplicate, Integer)),
            )
            .where(_d.broadcast_id == broadcast_id)
            .group_by(_d.state, _d.channel_kind, _d.route)
        )
        by_channel: dict[str, dict[str, int]] = defaultdict(dict)
        by_route: dict[str, dict[str, int]] = defaultdict(dict)
        for state, kind, route, n, attempts, duplicates in grouped:
            counts.deliveries += n
            counts.states[state] = counts.states.get(state, 0) + n
            by_channel[kind][state] = by_channel[kind].get(state, 0) + n
            if route is not None:
                by_route[route][state] = by_route[route].get(state, 0) + n
            counts.attempts += int(attempts or 0)
            counts.possible_duplicates += int(duplicates or 0)
        counts.by_channel = dict(by_channel)
        counts.by_route = dict(by_route)
    return counts


def recent_broadcasts(engine: Engine, limit: int = 20) -> list[BroadcastCounts]:
    """The newest broadcasts with their counts by state and by channel (two queries, whatever the limit)."""
    with engine.connect() as connection:
        rows = connection.execute(select(BROADCAST).order_by(_b.id.desc()).limit(limit)).all()
        found = {row.id: _broadcast_row(row) for row in rows}
        if found:
            grouped = connection.execute(
                select(_d.broadcast_id, _d.channel_kind, _d.state, func.count())
                .where(_d.broadcast_id.in_(list(found)))
                .group_by(_d.broadcast_id, _d.channel_kind, _d.state)
            )
            for broadcast_id, kind, state, n in grouped:
                counts = found[broadcast_id]
                counts.states[state] = counts.states.get(state, 0) + n
                counts.by_channel.setdefault(kind, {})[state] = n
                counts.deliveries += n
    return list(found.values())


REPORT_COLUMNS = (
    "delivery_id",
    "contact_id",
    "contact_name",
    "address",
    "channel",
    "route",
    "language",
    "state",
    "step",
    "parent_id",
    "attempts",
    "provider_id",
    "error",
    "possible_duplicate",
    "queued_at",
    "claimed_at",
    "submitted_at",
    "final_at",
)


def report_rows(engine: Engine, broadcast_id: int) -> Iterator[dict[str, Any]]:
    """One row per delivery in id order, streamed so a 100,000-recipient report stays small in memory."""
    c = CONTACT.c
    query = (
        select(
            _d.id.label("delivery_id"),
            _d.contact_id,
            c.name.label("contact_name"),
            _d.address,
            _d.channel_kind.label("channel"),
            _d.route,
            _d.language,
            _d.state,
            _d.step,
            _d.parent_id,
            _d.attempts,
            _d.provider_id,
            _d.error,
            _d.possible_duplicate,
            _d.queued_at,
            _d.claimed_at,
            _d.submitted_at,
            _d.final_at,
        )
        .select_from(DELIVERY.outerjoin(CONTACT, c.id == _d.contact_id))
        .where(_d.broadcast_id == broadcast_id)
        .order_by(_d.id)
    )
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=2000).execute(query)
        for row in result:
            data = dict(row._mapping)
            data["possible_duplicate"] = bool(data["possible_duplicate"])
            yield data
