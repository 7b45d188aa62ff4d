"""The escalation sweep: fallback steps created from what the store says, never from what an engine remembers.

A delivery that may still be followed by a later step of its broadcast's fallback policy carries
``escalate_at``: when to look at it next. A failed one with it set is looked at at once; any other when that
time comes. The sweep reads a batch of such rows, reads each person's whole chain (all their deliveries of
that broadcast, their addresses, whether they acknowledged), lets :func:`alertcast.core.escalation.decide`
judge it, and in the same write transaction creates the next step (linked by ``parent_id``, numbered by
``step``), reschedules, or clears ``escalate_at`` for good.

Exactly once, whoever runs it: a partial unique index on (parent_id, address) makes a step impossible to
create twice, so two engines deciding the same person at the same moment insert it once
(``ON CONFLICT DO NOTHING``); a restart simply finds the rows still due. A broadcast given new deliveries is
made ``active`` again in the same transaction (its row locked first; see ``mark_done``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from alertcast.core.escalation import (
    APPRISE,
    Decision,
    EscalationPolicy,
    StepRow,
    Verdict,
    contact_addresses,
    decide,
    reachable_steps,
)
from alertcast.store.ack_records import CONTACT, Target, run_in
from alertcast.store.models import DeliveryState, UTCDateTime, utcnow
from alertcast.store.outbox_tx import ACK, BROADCAST, DELIVERY, execute_many, run_write

S = DeliveryState
_d, _b, _a, _c = DELIVERY.c, BROADCAST.c, ACK.c, CONTACT.c
LINK_SECRET_BYTES = 12
"""The same size as ``store.ack_links.SECRET_BYTES``: new Apprise steps get their ack link at once."""
NOT_SENT_ACKNOWLEDGED = "not sent: the recipient has acknowledged"

_ROW = (_d.id, _d.broadcast_id, _d.contact_id, _d.step, _d.state, _d.submitted_at, _d.language,
        _d.escalate_at)  # fmt: skip
_TIMED_STATES = tuple(s.value for s in S if s is not S.FAILED)


@dataclass(frozen=True, slots=True)
class SweepSummary:
    looked: int = 0
    """Due deliveries read."""
    escalated: int = 0
    """People moved on to a later step."""
    created: int = 0
    """Deliveries created for those steps."""
    settled: int = 0
    """Deliveries nothing more can follow (reached, last step, acknowledged, broadcast over)."""
    rescheduled: int = 0
    stopped: int = 0
    """Queued deliveries not sent because the person had acknowledged meanwhile."""


def _due(connection: Connection, now: datetime, limit: int, broadcast_id: int | None = None) -> list[Any]:
    """Failed rows still watched (due at once), then rows whose time has come; both read from the partial
    index (state, escalate_at), so rows nobody watches cost nothing."""
    only = [] if broadcast_id is None else [_d.broadcast_id == broadcast_id]
    failed = select(*_ROW).where(_d.state == S.FAILED.value, _d.escalate_at.is_not(None), *only)
    rows = list(connection.execute(failed.limit(limit)))
    if len(rows) < limit:
        timed = select(*_ROW).where(
            _d.state.in_(_TIMED_STATES), _d.escalate_at.is_not(None), _d.escalate_at <= now, *only
        )
        rows.extend(connection.execute(timed.limit(limit - len(rows))))
    return rows


def escalations_due(
    engine: Engine, now: datetime | None = None, cap: int = 1000, *, broadcast_id: int | None = None
) -> int:
    """How many deliveries (at most ``cap``; of one broadcast, if given) the sweep would act on now: for
    idle detection and for callers waiting for a broadcast to finish."""
    with engine.connect() as connection:
        return len(_due(connection, now or utcnow(), cap, broadcast_id))


@dataclass
class _Broadcast:
    id: int
    policy: EscalationPolicy | None
    open: bool
    ack_requested: bool
    drill: bool
    priority: int
    created_at: datetime | None


def _broadcasts(connection: Connection, ids: set[int], now: datetime) -> dict[int, _Broadcast]:
    columns = (_b.id, _b.escalation, _b.status, _b.expires_at, _b.ack_requested, _b.drill, _b.priority,
               _b.created_at)  # fmt: skip
    found = {}
    for r in connection.execute(select(*columns).where(_b.id.in_(sorted(ids)))):
        is_open = r.status in ("active", "done") and (r.expires_at is None or r.expires_at > now)
        found[r.id] = _Broadcast(r.id, EscalationPolicy.from_json(r.escalation), is_open,
                                 bool(r.ack_requested), bool(r.drill), r.priority, r.created_at)  # fmt: skip
    return found


class _Plan:
    """What one sweep batch will write."""

    def __init__(self) -> None:
        self.clear: set[int] = set()
        self.reschedule: dict[int, datetime] = {}
        self.children: list[dict[str, Any]] = []
        self.revive: set[int] = set()
        self.stop_people: set[tuple[int, int]] = set()
        self.escalated = 0


def _plan_person(
    plan: _Plan,
    b: _Broadcast,
    person: tuple[int, int],
    chain: list[Any],
    contact: Any,
    acknowledged: bool,
    now: datetime,
) -> None:
    policy = b.policy
    assert policy is not None
    urls = list(contact.apprise_urls or []) if contact is not None else []
    addresses = contact_addresses(
        {k for step in policy.steps for k in step},
        contact.phone if contact is not None else None,
        contact.email if contact is not None else None,
        urls,
    )
    steps = [StepRow(r.id, r.step, r.state, r.submitted_at) for r in chain]
    decision: Decision = decide(
        steps,
        policy,
        ack_requested=b.ack_requested,
        acknowledged=acknowledged,
        steps_reachable=reachable_steps(policy, addresses),
        created_at=b.created_at,
        now=now,
    )
    watched = [r for r in chain if r.escalate_at is not None]
    if decision.verdict is Verdict.WAIT and decision.look_at is not None:
        # The latest step's unfinished deliveries carry the wait; a failed one is never rescheduled (a
        # watched failed row is due at once) and earlier steps are history.
        current = max(r.step for r in chain)
        waiting = [r for r in chain if r.step == current and r.state != S.FAILED.value]
        plan.reschedule.update((r.id, decision.look_at) for r in waiting)
        plan.clear.update(r.id for r in watched if r not in waiting)
        return
    plan.clear.update(r.id for r in watched)
    if decision.verdict is Verdict.ACKNOWLEDGED:
        plan.stop_people.add(person)
        return
    if decision.verdict is not Verdict.ESCALATE or decision.next_step is None:
        return
    step = decision.next_step
    parent = next(r for r in chain if r.id == decision.parent_id)
    watch = now + policy.first_look if policy.has_later_step(step) else None
    plan.escalated += 1
    plan.revive.add(b.id)
    for kind, address in contact_addresses(policy.steps[step], contact.phone, contact.email, urls):
        plan.children.append(
            {
                "broadcast_id": b.id, "contact_id": contact.id, "address": address, "channel_kind": kind,
                "drill": b.drill, "language": parent.language, "priority": b.priority,
                "state": S.QUEUED.value, "attempts": 0, "possible_duplicate": False,
                "parent_id": parent.id, "step": step, "queued_at": now, "next_attempt_at": now,
                "escalate_at": watch,
                "ack_code": secrets.token_urlsafe(LINK_SECRET_BYTES)
                if kind == APPRISE and b.ack_requested else None,
            }
        )  # fmt: skip


def _plan(connection: Connection, due: list[Any], now: datetime) -> _Plan:
    plan = _Plan()
    broadcasts = _broadcasts(connection, {r.broadcast_id for r in due}, now)
    people: set[tuple[int, int]] = set()
    for r in due:
        b = broadcasts.get(r.broadcast_id)
        if b is None or b.policy is None or not b.open or r.contact_id is None:
            plan.clear.add(r.id)  # nothing can follow: no policy, broadcast over, or not a contact
        else:
            people.add((r.broadcast_id, r.contact_id))
    if not people:
        return plan
    contact_ids = sorted({c for _, c in people})
    broadcast_ids = sorted({b for b, _ in people})
    chains: dict[tuple[int, int], list[Any]] = {p: [] for p in people}
    query = select(*_ROW).where(_d.contact_id.in_(contact_ids), _d.broadcast_id.in_(broadcast_ids))
    for row in connection.execute(query):
        chain = chains.get((row.broadcast_id, row.contact_id))
        if chain is not None:
            chain.append(row)
    contacts = {
        c.id: c
        for c in connection.execute(
            select(_c.id, _c.phone, _c.email, _c.apprise_urls).where(_c.id.in_(contact_ids))
        )
    }
    acked = {
        (row.broadcast_id, row.contact_id)
        for row in connection.execute(
            select(_a.broadcast_id, _a.contact_id).where(
                _a.matched.is_(True), _a.contact_id.in_(contact_ids), _a.broadcast_id.in_(broadcast_ids)
            )
        )
    }
    for person, chain in sorted(chains.items()):
        _plan_person(
            plan, broadcasts[person[0]], person, chain, contacts.get(person[1]), person in acked, now
        )
    return plan


def _insert_children(connection: Connection, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DELIVERY).on_conflict_do_nothing().returning(DELIVERY.c.id)
    # RETURNING counts what was really inserted (an executemany's rowcount is not reliable everywhere).
    return len(connection.execute(statement, rows).all())


def _stop_people(connection: Connection, people: Iterable[tuple[int, int]], now: datetime) -> int:
    """Queued deliveries of people who acknowledged are not sent; their chains are watched no longer."""
    pairs = [{"b_broadcast": b, "b_contact": c, "b_now": now} for b, c in sorted(set(people))]
    if not pairs:
        return 0
    person = (_d.broadcast_id == bindparam("b_broadcast")) & (_d.contact_id == bindparam("b_contact"))
    stopped = execute_many(
        connection,
        update(DELIVERY)
        .where(person, _d.state == S.QUEUED.value)
        .values(
            state=S.CANCELLED.value,
            final_at=bindparam("b_now", type_=UTCDateTime()),
            error=NOT_SENT_ACKNOWLEDGED,
            escalate_at=None,
        ),
        pairs,
    )
    execute_many(
        connection,
        update(DELIVERY).where(person, _d.escalate_at.is_not(None)).values(escalate_at=None),
        [{k: v for k, v in p.items() if k != "b_now"} for p in pairs],
    )
    return stopped


def _write(connection: Connection, plan: _Plan, now: datetime) -> tuple[int, int]:
    if plan.revive:
        # Lock the broadcast rows before adding work to them, and make a finished broadcast active again.
        connection.execute(
            update(BROADCAST)
            .where(_b.id.in_(sorted(plan.revive)), _b.status.in_(("active", "done")))
            .values(status="active")
        )
    created = _insert_children(connection, plan.children)
    if plan.clear:
        ids = sorted(plan.clear)
        for start in range(0, len(ids), 500):
            connection.execute(
                update(DELIVERY).where(_d.id.in_(ids[start : start + 500])).values(escalate_at=None)
            )
    if plan.reschedule:
        execute_many(
            connection,
            update(DELIVERY)
            .where(_d.id == bindparam("b_id"))
            .values(escalate_at=bindparam("b_at", type_=UTCDateTime())),
            [{"b_id": i, "b_at": at} for i, at in sorted(plan.reschedule.items())],
        )
    return created, _stop_people(connection, plan.stop_people, now)


def escalation_sweep(engine: Engine, *, now: datetime | None = None, limit: int = 500) -> SweepSummary:
    """Look at up to ``limit`` due deliveries and act on their people's chains, in one write transaction.
    Call again while ``looked == limit``."""
    at = now or utcnow()

    def work(connection: Connection) -> SweepSummary:
        due = _due(connection, at, limit)
        if not due:
            return SweepSummary()
        plan = _plan(connection, due, at)
        created, stopped = _write(connection, plan, at)
        return SweepSummary(
            looked=len(due),
            escalated=plan.escalated,
            created=created,
            settled=len(plan.clear),
            rescheduled=len(plan.reschedule),
            stopped=stopped,
        )

    return run_write(engine, work)  # type: ignore[no-any-return]


def stop_for_acknowledged(
    target: Target, people: Iterable[tuple[int, int]], now: datetime | None = None
) -> int:
    """After acknowledgements of (broadcast id, contact id): cancel what is still queued for those people
    and stop watching their chains. Returns the deliveries not sent. (The sweep does the same for acks it
    finds itself; this makes it immediate for the engine's own replies and links.)"""
    pairs = list(people)
    if not pairs:
        return 0
    return run_in(target, lambda connection: _stop_people(connection, pairs, now or utcnow()))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class EscalationStatus:
    policy: str | None
    steps: list[list[str]]
    by_step: dict[int, dict[str, int]]
    """Delivery counts by fallback step and state."""
    watched: int
    """Deliveries a later step may still follow."""
    due: int
    """Of those, the ones the sweep will act on at its next run."""


def escalation_status(engine: Engine, broadcast_id: int, now: datetime | None = None) -> EscalationStatus:
    at = now or utcnow()
    with engine.connect() as connection:
        stored = connection.execute(select(_b.escalation).where(_b.id == broadcast_id)).scalar()
        policy = EscalationPolicy.from_json(stored)
        by_step: dict[int, dict[str, int]] = {}
        grouped = (
            select(_d.step, _d.state, func.count())
            .where(_d.broadcast_id == broadcast_id)
            .group_by(_d.step, _d.state)
        )
        for step, state, n in connection.execute(grouped):
            by_step.setdefault(int(step), {})[state] = int(n)
        watched_rows = select(_d.state, _d.escalate_at).where(
            _d.broadcast_id == broadcast_id, _d.escalate_at.is_not(None)
        )
        watched = due = 0
        for state, escalate_at in connection.execute(watched_rows):
            watched += 1
            due += state == S.FAILED.value or (escalate_at is not None and escalate_at <= at)
    return EscalationStatus(
        policy.name if policy else None,
        [list(s) for s in policy.steps] if policy else [],
        dict(sorted(by_step.items())),
        watched,
        due,
    )


__all__ = [
    "EscalationStatus",
    "SweepSummary",
    "escalation_status",
    "escalation_sweep",
    "escalations_due",
    "stop_for_acknowledged",
]
