"""Claiming deliveries with a lease, renewing leases, and taking back the leases of engines that died.

A claim takes the most urgent due deliveries one route may carry (one channel kind, drill or live work),
highest priority first, then the longest due, then the oldest. The claim index leads with
(state, channel_kind, drill) and orders (priority DESC, next_attempt_at, id), so a claim reads exactly the
rows it returns. On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED`` inside the
``UPDATE … RETURNING``, so engines sharing the database never claim the same row and never wait on each
other; on SQLite the single statement runs in a ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Integer, Select, bindparam, or_, select, update

from alertcast.store.models import DeliveryState, UTCDateTime, utcnow
from alertcast.store.outbox_tx import BROADCAST, DELIVERY, MESSAGE, run_write
from alertcast.store.outbox_types import BroadcastCache, BroadcastInfo, ClaimedDelivery, MessageText

QUEUED = DeliveryState.QUEUED.value
CLAIMED = DeliveryState.CLAIMED.value
_NO_TEXT = MessageText("")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_RETURNED = (
    DELIVERY.c.id,
    DELIVERY.c.broadcast_id,
    DELIVERY.c.contact_id,
    DELIVERY.c.address,
    DELIVERY.c.channel_kind,
    DELIVERY.c.language,
    DELIVERY.c.priority,
    DELIVERY.c.attempts,
    DELIVERY.c.possible_duplicate,
    DELIVERY.c.drill,
    DELIVERY.c.next_attempt_at,
    DELIVERY.c.ack_code,
)


def _candidates(kind: object, drill: object, now: object, limit: object) -> Select[tuple[int]]:
    d, b = DELIVERY.c, BROADCAST.c
    return (
        select(d.id)
        .select_from(DELIVERY.join(BROADCAST, b.id == d.broadcast_id))
        .where(
            d.state == QUEUED,
            d.channel_kind == kind,
            d.drill == drill,
            or_(d.next_attempt_at.is_(None), d.next_attempt_at <= now),
            b.status == "active",
            or_(b.expires_at.is_(None), b.expires_at > now),
        )
        .order_by(d.priority.desc(), d.next_attempt_at, d.id)
        .limit(limit)  # type: ignore[arg-type]
        .with_for_update(skip_locked=True, of=DELIVERY)
    )


def _claim_update(ids: object, owner: object, route: object, now: object, expires: object) -> Any:
    return (
        update(DELIVERY)
        .where(DELIVERY.c.id.in_(ids))  # type: ignore[arg-type]
        .values(state=CLAIMED, lease_owner=owner, lease_expires_at=expires, claimed_at=now, route=route)
        .returning(*_RETURNED)
    )


_NOW = bindparam("c_now", type_=UTCDateTime())
_CLAIM_ONE_MODE = _claim_update(
    _candidates(
        bindparam("c_kind"), bindparam("c_drill"), _NOW, bindparam("c_limit", type_=Integer())
    ).scalar_subquery(),
    bindparam("c_owner"),
    bindparam("c_route"),
    _NOW,
    bindparam("c_expires", type_=UTCDateTime()),
)
"""The claim of a route that carries one kind of work, built once: every claim only binds new values
(building and cache-keying the statement each time cost more than SQLite's work for 50 rows)."""


def _load_broadcasts(connection: Connection, ids: set[int], cache: BroadcastCache) -> None:
    missing = cache.missing(ids)
    if not missing:
        return
    texts: dict[int, dict[str, MessageText]] = {i: {} for i in missing}
    for row in connection.execute(select(MESSAGE).where(MESSAGE.c.broadcast_id.in_(missing))):
        texts[row.broadcast_id][row.language] = MessageText(row.sms_text, row.title, row.body)
    columns = (BROADCAST.c.id, BROADCAST.c.drill, BROADCAST.c.expires_at, BROADCAST.c.title)
    for row in connection.execute(select(*columns).where(BROADCAST.c.id.in_(missing))):
        messages = texts[row.id]
        default = next(iter(messages), "")
        cache.put(BroadcastInfo(row.id, bool(row.drill), row.expires_at, row.title, messages, default))


def _to_claimed(r: Any, info: BroadcastInfo | None, route: str) -> ClaimedDelivery:
    """A returned row (columns as in ``_RETURNED``) plus its broadcast's text in the row's language."""
    did, broadcast_id, contact_id, address, kind, language, priority, attempts, dup, drill, _, ack_code = r
    messages = info.messages if info else {}
    text = messages.get(language) or messages.get(info.default_language if info else "") or _NO_TEXT
    return ClaimedDelivery(
        id=did,
        broadcast_id=broadcast_id,
        contact_id=contact_id,
        address=address,
        channel_kind=kind,
        language=language,
        priority=priority,
        attempts=attempts,
        possible_duplicate=bool(dup),
        drill=bool(drill),
        text=text.sms_text,
        title=text.title,
        body=text.body,
        expires_at=info.expires_at if info else None,
        route=route,
        ack_code=ack_code,
    )


def _order_key(row: Any) -> tuple[int, datetime, int]:
    return (-row[6], row[10] or _EPOCH, row[0])


def claim(
    engine: Engine,
    owner: str,
    *,
    route: str,
    kind: str,
    modes: Sequence[bool] = (False,),
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
    cache: BroadcastCache | None = None,
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due deliveries of ``kind`` for ``route``, most urgent first.

    ``modes`` says which work the route may carry: ``(False,)`` live only, ``(True,)`` drills only,
    ``(False, True)`` both (a drill sink marked for live use in tests and the demo). Only QUEUED rows of
    active, unexpired broadcasts whose next attempt is due are taken. Rows come back in claim order.
    """
    if limit <= 0 or not modes:
        return []
    at = now or utcnow()
    lease = timedelta(seconds=lease_seconds)
    texts = cache if cache is not None else BroadcastCache()

    def work(connection: Connection) -> list[ClaimedDelivery]:
        if len(modes) == 1:
            values = {"c_kind": kind, "c_drill": modes[0], "c_now": at, "c_limit": limit, "c_owner": owner}
            values.update(c_route=route, c_expires=at + lease)
            rows = list(connection.execute(_CLAIM_ONE_MODE, values))
        else:
            # Two ranges of the index: take the best of each, keep the best `limit` of both.
            ranked: list[Any] = []
            for mode in modes:
                query = _candidates(kind, mode, at, limit).add_columns(
                    DELIVERY.c.priority, DELIVERY.c.next_attempt_at
                )
                ranked.extend(connection.execute(query))
            ranked.sort(key=lambda r: (-r.priority, r.next_attempt_at or _EPOCH, r.id))
            ids = [r.id for r in ranked[:limit]]
            claim_them = _claim_update(ids, owner, route, at, at + lease)
            rows = list(connection.execute(claim_them)) if ids else []
        rows.sort(key=_order_key)
        _load_broadcasts(connection, {r[1] for r in rows}, texts)
        return [_to_claimed(r, texts.entries.get(r[1]), route) for r in rows]

    return run_write(engine, work)


def renew_leases(engine: Engine, owner: str, lease_seconds: float, now: datetime | None = None) -> int:
    """Push out the lease of every delivery this owner still holds; one statement, however many."""
    at = now or utcnow()
    statement = (
        update(DELIVERY)
        .where(DELIVERY.c.state == CLAIMED, DELIVERY.c.lease_owner == owner)
        .values(lease_expires_at=at + timedelta(seconds=lease_seconds))
    )
    return run_write(engine, lambda c: c.execute(statement).rowcount)


def _requeue_claimed(condition: object, possible_duplicate: bool) -> object:
    values: dict[str, object] = {"state": QUEUED, "lease_owner": None, "lease_expires_at": None}
    if possible_duplicate:
        values["possible_duplicate"] = True
    return update(DELIVERY).where(DELIVERY.c.state == CLAIMED, condition).values(**values)  # type: ignore[arg-type]


def recover_expired_leases(engine: Engine, now: datetime | None = None) -> int:
    """Requeue deliveries whose owner stopped renewing (it died or hung), flagged ``possible_duplicate``:
    they may already have been handed to a transport, so the report must say a second copy is possible.
    They keep their place in the queue (``next_attempt_at`` is unchanged)."""
    at = now or utcnow()
    statement = _requeue_claimed(DELIVERY.c.lease_expires_at < at, possible_duplicate=True)
    return run_write(engine, lambda c: c.execute(statement).rowcount)  # type: ignore[arg-type]


def recover_owners(engine: Engine, owners: Iterable[str]) -> int:
    """Requeue (as possible duplicates) everything held by owners known to be dead, without waiting for
    their leases to run out: a restarted engine on the same host resumes at once."""
    names = sorted(set(owners))
    if not names:
        return 0
    statement = _requeue_claimed(DELIVERY.c.lease_owner.in_(names), possible_duplicate=True)
    return run_write(engine, lambda c: c.execute(statement).rowcount)  # type: ignore[arg-type]


def lease_owners(engine: Engine) -> list[str]:
    """The owners holding claimed deliveries right now."""
    query = select(DELIVERY.c.lease_owner).where(DELIVERY.c.state == CLAIMED).distinct()
    with engine.connect() as connection:
        return [o for o in connection.execute(query).scalars() if o]


def release_all(engine: Engine, owner: str, *, possible_duplicate: bool = True) -> int:
    """Give back every delivery this owner still holds (graceful stop, after the channels reported)."""
    statement = _requeue_claimed(DELIVERY.c.lease_owner == owner, possible_duplicate=possible_duplicate)
    return run_write(engine, lambda c: c.execute(statement).rowcount)  # type: ignore[arg-type]
