"""Expiry, cancel and housekeeping: the outbox writes that are not on the per-delivery hot path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, insert, or_, select, update

from alertcast.store.models import DeliveryState, utcnow
from alertcast.store.outbox_tx import ACK, AUDIT, BROADCAST, DELIVERY, run_write
from alertcast.store.outbox_types import OutboxError

S = DeliveryState
_d, _b = DELIVERY.c, BROADCAST.c


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    broadcast_id: int
    previous_status: str
    status: str
    cancelled: int
    """Deliveries stopped before any transport saw them."""
    in_flight: int
    """Deliveries held by a running engine: it drops the ones it has not handed out within a second."""
    already_sent: int


def expire_due(engine: Engine, now: datetime | None = None) -> int:
    """Mark EXPIRED every queued delivery of a broadcast past its ``expires_at``: it is never sent."""
    at = now or utcnow()
    due = select(_b.id).where(_b.status == "active", _b.expires_at.is_not(None), _b.expires_at <= at)
    statement = (
        update(DELIVERY)
        .where(_d.state == S.QUEUED.value, _d.broadcast_id.in_(due.scalar_subquery()))
        .values(state=S.EXPIRED.value, final_at=at, error="expired before it could be sent")
    )
    return run_write(engine, lambda c: c.execute(statement).rowcount)


def sweep_cancelled(engine: Engine, now: datetime | None = None) -> int:
    """Cancel queued deliveries of cancelled broadcasts (ones requeued by a channel after the cancel)."""
    at = now or utcnow()
    gone = select(_b.id).where(_b.status == "cancelled")
    statement = (
        update(DELIVERY)
        .where(_d.state == S.QUEUED.value, _d.broadcast_id.in_(gone.scalar_subquery()))
        .values(state=S.CANCELLED.value, final_at=at, error="broadcast cancelled")
    )
    return run_write(engine, lambda c: c.execute(statement).rowcount)


def mark_done(engine: Engine) -> int:
    """Active broadcasts with nothing left to send (no queued or claimed delivery) become ``done``.

    Two statements: the candidates are locked first, and only then checked again and updated. On
    PostgreSQL a single UPDATE that waited for the row lock of a fallback step's transaction would re-check
    the broadcast row but not the deliveries (its subquery keeps the statement's older snapshot), and could
    mark ``done`` a broadcast that has just been given queued deliveries, which then nobody would claim.
    """
    open_work = exists().where(_d.broadcast_id == _b.id, _d.state.in_((S.QUEUED.value, S.CLAIMED.value)))
    finished = (_b.status == "active") & ~open_work
    candidates = select(_b.id).where(finished).with_for_update()

    def work(connection: Connection) -> int:
        ids = list(connection.execute(candidates).scalars())
        if not ids:
            return 0
        statement = update(BROADCAST).where(_b.id.in_(ids), finished).values(status="done")
        return connection.execute(statement).rowcount

    return run_write(engine, work)


def inactive_broadcasts(engine: Engine, ids: Iterable[int]) -> dict[int, str]:
    """Of these broadcasts, the ones no longer active (cancelled, or gone), with their status."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(select(_b.id, _b.status).where(_b.id.in_(wanted))).all()
    found = {row.id: row.status for row in rows}
    return {i: found.get(i, "missing") for i in wanted if found.get(i) not in ("active", "done")}


def cancel_broadcast(
    engine: Engine, broadcast_id: int, *, operator: str = "system", now: datetime | None = None
) -> CancelOutcome:
    """Cancel a broadcast: nothing more of it is claimed, and every delivery not yet with a transport is
    CANCELLED. What a transport already has is not recalled (SMS cannot be). Audit-logged as ``operator``.

    Deliveries claimed by a running engine stay with it: it sees the cancel within a second and cancels
    those it has not handed out. Claims whose lease ran out (their engine died) are cancelled here.
    """
    at = now or utcnow()

    def work(connection: Connection) -> CancelOutcome:
        status = connection.execute(select(_b.status).where(_b.id == broadcast_id)).scalar_one_or_none()
        if status is None:
            raise OutboxError(f"no broadcast {broadcast_id}")
        cancelled = 0
        # A finished ("done") broadcast may still have fallback steps waiting: cancelling it stops them.
        if status in ("active", "done"):
            connection.execute(
                update(BROADCAST).where(_b.id == broadcast_id).values(status="cancelled", cancelled_at=at)
            )
            stoppable = or_(
                _d.state == S.QUEUED.value,
                and_(_d.state == S.CLAIMED.value, _d.lease_expires_at < at),
            )
            cancelled = connection.execute(
                update(DELIVERY)
                .where(_d.broadcast_id == broadcast_id, stoppable)
                .values(
                    state=S.CANCELLED.value,
                    final_at=at,
                    error=f"cancelled by {operator}",
                    lease_owner=None,
                    lease_expires_at=None,
                )
            ).rowcount
            connection.execute(
                update(DELIVERY)
                .where(_d.broadcast_id == broadcast_id, _d.escalate_at.is_not(None))
                .values(escalate_at=None)
            )
        counts = dict(
            connection.execute(
                select(_d.state, func.count()).where(_d.broadcast_id == broadcast_id).group_by(_d.state)
            ).all()
        )
        sent = sum(counts.get(s.value, 0) for s in (S.SUBMITTED, S.DELIVERED, S.ACKNOWLEDGED))
        new_status = "cancelled" if status in ("active", "done", "cancelled") else status
        connection.execute(
            insert(AUDIT).values(
                at=at,
                actor=operator,
                action="broadcast.cancel",
                subject=f"broadcast:{broadcast_id}",
                detail={"previous_status": status, "cancelled": cancelled, "already_sent": sent},
            )
        )
        return CancelOutcome(
            broadcast_id, status, new_status, cancelled, counts.get(S.CLAIMED.value, 0), sent
        )

    return run_write(engine, work)


def store_inbound(engine: Engine, rows: Sequence[dict[str, Any]]) -> int:
    """Keep replies as unmatched acks (``received_at``, ``channel``, ``sender``, ``text``, ``reason``)."""
    if not rows:
        return 0
    values = [{"matched": False, "reason": "", **row} for row in rows]
    return run_write(engine, lambda c: c.execute(insert(ACK), values).rowcount)
