"""The outbox on a real SQLite file: creation, claims by priority, results, receipts, leases, expiry, cancel."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from alertcast.services.context import AppContext
from alertcast.store import outbox as ob
from alertcast.store.models import AuditEntry, Broadcast, Delivery
from alertcast.store.outbox_report import broadcast_counts, open_work

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def make(
    engine: Engine,
    n: int,
    *,
    priority: int = 0,
    drill: bool = False,
    kind: str = "sms",
    expires_at: datetime | None = None,
    languages: Sequence[str] = ("en",),
    now: datetime = T0,
) -> int:
    spec = ob.BroadcastSpec(
        operator="tester",
        title=f"p{priority}",
        messages={
            lang: ob.MessageText(f"text-{lang}", title=f"T-{lang}", body=f"B-{lang}") for lang in languages
        },
        recipients=[(None, f"+1555{i:07d}", kind, languages[i % len(languages)]) for i in range(n)],
        priority=priority,
        drill=drill,
        expires_at=expires_at,
    )
    with Session(engine) as session:
        broadcast_id = ob.create_broadcast(session, spec, now=now)
        session.commit()
    return broadcast_id


def take(engine: Engine, limit: int, *, kind: str = "sms", modes: Sequence[bool] = (False,), owner: str = "me",
         now: datetime = T0, route: str = "r1", lease: float = 60) -> list[ob.ClaimedDelivery]:  # fmt: skip
    return ob.claim(
        engine, owner, route=route, kind=kind, modes=modes, limit=limit, lease_seconds=lease, now=now
    )


def states(engine: Engine) -> dict[int, Delivery]:
    with Session(engine) as session:
        return {d.id: d for d in session.exec(select(Delivery)).scalars()}  # type: ignore[call-overload]


@pytest.fixture
def engine(ctx: AppContext) -> Engine:
    return ctx.engine


def test_create_stores_one_delivery_per_recipient_with_texts_and_an_audit_entry(engine: Engine) -> None:
    broadcast_id = make(engine, 5, languages=("en", "es"), priority=3)
    rows = states(engine)
    assert len(rows) == 5
    assert {d.language for d in rows.values()} == {"en", "es"}
    assert all(d.state == "queued" and d.priority == 3 and d.next_attempt_at == T0 for d in rows.values())
    with Session(engine) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        assert broadcast is not None and broadcast.recipients == 5 and broadcast.channels == ["sms"]
        audit = session.exec(select(AuditEntry)).scalars().one()  # type: ignore[call-overload]
        assert (
            audit.action == "broadcast.create" and audit.actor == "tester" and audit.detail["deliveries"] == 5
        )
    claimed = take(engine, 10)
    assert {(c.language, c.text, c.title, c.body) for c in claimed} == {
        ("en", "text-en", "T-en", "B-en"),
        ("es", "text-es", "T-es", "B-es"),
    }


def test_a_language_without_text_gets_the_default_and_is_stored_as_such(engine: Engine) -> None:
    spec = ob.BroadcastSpec(
        operator="o",
        title="t",
        messages={"fr": ob.MessageText("bonjour"), "en": ob.MessageText("hello")},
        recipients=[ob.Recipient(None, "+15550000001", "sms", "de")],
        default_language="en",
    )
    with Session(engine) as session:
        ob.create_broadcast(session, spec)
        session.commit()
    [claimed] = take(engine, 1)
    assert (claimed.language, claimed.text) == ("en", "hello")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"messages": {}}, "no message text"),
        ({"messages": {"en": ob.MessageText("  ")}}, "has no SMS text"),
        ({"recipients": []}, "no recipients"),
        ({"recipients": [(None, "", "sms", "en")]}, "recipient 0: empty"),
        ({"recipients": [(None, "+1555", "sms")]}, "recipient 0: expected"),
        (
            {"recipients": [(None, "+1", "sms", "en"), (999, "+2", "sms", "en")]},
            "contact that does not exist",
        ),
        ({"expires_at": datetime(2030, 1, 1)}, "aware"),
        ({"default_language": "xx"}, "default language 'xx'"),
    ],
)
def test_bad_specs_are_refused_with_the_place_named(engine: Engine, change: dict, message: str) -> None:
    base = {
        "operator": "o",
        "title": "t",
        "messages": {"en": ob.MessageText("hi")},
        "recipients": [(None, "+15550000001", "sms", "en")],
    }
    with Session(engine) as session, pytest.raises(ob.OutboxError, match=message):
        ob.create_broadcast(session, ob.BroadcastSpec(**{**base, **change}))
    assert states(engine) == {}


def test_claims_take_highest_priority_first_then_oldest(engine: Engine) -> None:
    routine = make(engine, 10, priority=0)
    urgent = make(engine, 3, priority=4, now=T0 + timedelta(seconds=5))
    claimed = take(engine, 5, now=T0 + timedelta(seconds=10))
    assert [c.broadcast_id for c in claimed] == [urgent] * 3 + [routine] * 2
    assert [c.id for c in claimed[3:]] == sorted(c.id for c in claimed[3:])
    rows = states(engine)
    assert all(rows[c.id].state == "claimed" and rows[c.id].lease_owner == "me" for c in claimed)
    assert all(rows[c.id].route == "r1" for c in claimed)
    # Nothing is claimed twice.
    again = take(engine, 100, now=T0 + timedelta(seconds=10))
    assert len(again) == 8 and not {c.id for c in again} & {c.id for c in claimed}


def test_drill_and_live_work_are_claimed_only_by_routes_marked_for_them(engine: Engine) -> None:
    live = make(engine, 3, drill=False)
    drill = make(engine, 3, drill=True, priority=2)
    assert {c.broadcast_id for c in take(engine, 10, modes=(False,))} == {live}
    assert {c.broadcast_id for c in take(engine, 10, modes=(True,))} == {drill}
    assert all(c.drill for c in states(engine).values() if c.broadcast_id == drill)


def test_a_route_carrying_both_modes_still_takes_the_most_urgent_first(engine: Engine) -> None:
    make(engine, 5, drill=True, priority=1)
    live = make(engine, 2, drill=False, priority=4)
    claimed = take(engine, 3, modes=(False, True))
    assert [c.broadcast_id for c in claimed[:2]] == [live, live] and len(claimed) == 3
    # The best of each range was looked at, but only what was returned is claimed.
    assert sum(d.state == "claimed" for d in states(engine).values()) == 3


def test_other_kinds_expired_and_cancelled_broadcasts_and_future_retries_are_not_claimed(
    engine: Engine,
) -> None:
    make(engine, 2, kind="apprise")
    make(engine, 2, expires_at=T0 + timedelta(seconds=1))
    cancelled = make(engine, 2)
    ob.cancel_broadcast(engine, cancelled, operator="o", now=T0)
    assert take(engine, 10, now=T0 + timedelta(seconds=2)) == []
    assert len(take(engine, 10, kind="apprise", now=T0 + timedelta(seconds=2))) == 2


def test_results_are_recorded_in_one_batch(engine: Engine) -> None:
    make(engine, 6)
    c = take(engine, 6)
    results = [
        ob.ResultRecord(c[0].id, ob.ResultKind.SUBMITTED, 0, provider_id="A1"),
        ob.ResultRecord(c[1].id, ob.ResultKind.DELIVERED, 0, provider_id="d-1"),
        ob.ResultRecord(c[2].id, ob.ResultKind.FAILED, 0, error="ESME_RINVDSTADR"),
        ob.ResultRecord(c[3].id, ob.ResultKind.REQUEUE, 0, possible_duplicate=True),
        ob.ResultRecord(c[4].id, ob.ResultKind.RELEASE, 0, possible_duplicate=True),
        ob.ResultRecord(c[5].id, ob.ResultKind.EXPIRED, 0, error="expired"),
    ]
    summary = ob.record_results(engine, "me", results, now=T0)
    assert (summary.applied, summary.stale) == (6, 0)
    rows = states(engine)
    got = [(rows[x.id].state, rows[x.id].attempts, rows[x.id].possible_duplicate) for x in c]
    assert got == [
        ("submitted", 1, False),
        ("delivered", 1, False),
        ("failed", 1, False),
        ("queued", 0, True),
        ("queued", 0, False),
        ("expired", 0, False),
    ]
    assert rows[c[0].id].provider_id == "A1" and rows[c[0].id].submitted_at == T0
    assert rows[c[2].id].error == "ESME_RINVDSTADR" and rows[c[2].id].final_at == T0
    assert all(rows[x.id].lease_owner is None for x in c)
    # A result for a delivery this owner no longer holds is stale and changes nothing.
    assert ob.record_results(engine, "me", [results[0]], now=T0).stale == 1


def test_temporary_failures_back_off_exponentially_with_jitter_until_max_attempts(engine: Engine) -> None:
    make(engine, 1)
    policy = ob.RetryPolicy(max_attempts=3, base_seconds=10, cap_seconds=15, jitter=0.5)
    now = T0
    waits = []
    for attempt in range(3):
        [c] = take(engine, 1, now=now + timedelta(hours=1))
        assert c.attempts == attempt
        ob.record_results(
            engine, "me", [ob.ResultRecord(c.id, ob.ResultKind.RETRY, c.attempts, error="busy")],
            policy=policy, now=now, rng=random.Random(attempt),
        )  # fmt: skip
        row = states(engine)[c.id]
        if attempt < 2:
            assert row.state == "queued" and row.attempts == attempt + 1 and row.error == "busy"
            assert row.next_attempt_at is not None
            waits.append((row.next_attempt_at - now).total_seconds())
            # Not due before its time.
            assert take(engine, 1, now=row.next_attempt_at - timedelta(seconds=1)) == []
            now = row.next_attempt_at
    assert 5 <= waits[0] <= 10 and 7.5 <= waits[1] <= 15  # base 10, doubled, capped at 15; jitter 50 %
    row = states(engine)[c.id]
    assert row.state == "failed" and row.attempts == 3
    assert row.error == "gave up after 3 attempts; last error: busy"


def test_a_receipt_before_its_submit_result_is_returned_unmatched_then_matches(engine: Engine) -> None:
    make(engine, 2)
    a, b = take(engine, 2)
    early = ob.ReceiptRecord("r1", ("0000ff", "255"), True, "DELIVRD")
    summary = ob.record_results(engine, "me", [], [early], now=T0)
    assert summary.unmatched_receipts == (early,)
    failed = ob.ReceiptRecord("r1", ("77",), False, "UNDELIV", error="absent subscriber")
    other_route = ob.ReceiptRecord("r2", ("77",), True, "DELIVRD")
    summary = ob.record_results(
        engine,
        "me",
        [
            ob.ResultRecord(a.id, ob.ResultKind.SUBMITTED, 0, provider_id="255"),
            ob.ResultRecord(b.id, ob.ResultKind.SUBMITTED, 0, provider_id="77"),
        ],
        [early, other_route, failed],
        now=T0,
    )
    assert summary.receipts_matched == 2 and summary.unmatched_receipts == (other_route,)
    rows = states(engine)
    assert rows[a.id].state == "delivered" and rows[b.id].state == "failed"
    assert rows[b.id].error == "absent subscriber"


def test_expired_leases_come_back_as_possible_duplicates_and_live_ones_are_renewed(engine: Engine) -> None:
    make(engine, 4)
    dead = take(engine, 2, owner="dead", lease=10)
    alive = take(engine, 2, owner="alive", lease=10)
    assert ob.renew_leases(engine, "alive", 60, now=T0 + timedelta(seconds=5)) == 2
    assert ob.recover_expired_leases(engine, now=T0 + timedelta(seconds=11)) == 2
    rows = states(engine)
    assert all(rows[c.id].state == "queued" and rows[c.id].possible_duplicate for c in dead)
    assert all(rows[c.id].state == "claimed" for c in alive)
    assert ob.lease_owners(engine) == ["alive"]
    assert ob.recover_owners(engine, ["alive"]) == 2
    assert ob.release_all(engine, "nobody") == 0


def test_expiry_marks_queued_deliveries_and_never_claims_them(engine: Engine) -> None:
    soon = make(engine, 3, expires_at=T0 + timedelta(minutes=1))
    later = make(engine, 2, expires_at=T0 + timedelta(hours=1))
    assert ob.expire_due(engine, now=T0 + timedelta(minutes=2)) == 3
    counts = broadcast_counts(engine, soon)
    assert counts is not None and counts.states == {"expired": 3}
    assert {c.broadcast_id for c in take(engine, 10, now=T0 + timedelta(minutes=2))} == {later}


def test_cancel_stops_queued_work_and_dead_claims_but_leaves_live_claims_to_their_engine(
    engine: Engine,
) -> None:
    broadcast_id = make(engine, 6)
    held = take(engine, 2, owner="engine-a", lease=60)
    stale = take(engine, 1, owner="gone", lease=1)
    sent = take(engine, 1, owner="engine-a")
    ob.record_results(engine, "engine-a", [ob.ResultRecord(sent[0].id, ob.ResultKind.DELIVERED)], now=T0)
    outcome = ob.cancel_broadcast(
        engine, broadcast_id, operator="duty officer", now=T0 + timedelta(seconds=5)
    )
    assert (outcome.previous_status, outcome.status) == ("active", "cancelled")
    assert (outcome.cancelled, outcome.in_flight, outcome.already_sent) == (3, 2, 1)
    rows = states(engine)
    assert rows[stale[0].id].state == "cancelled"
    assert all(rows[c.id].state == "claimed" for c in held)
    assert ob.inactive_broadcasts(engine, [broadcast_id, 999]) == {broadcast_id: "cancelled", 999: "missing"}
    # A delivery the transport hands back after the cancel is swept, not sent.
    ob.record_results(engine, "engine-a", [ob.ResultRecord(held[0].id, ob.ResultKind.REQUEUE)], now=T0)
    assert ob.sweep_cancelled(engine) == 1
    again = ob.cancel_broadcast(engine, broadcast_id, operator="duty officer")
    assert again.previous_status == "cancelled" and again.cancelled == 0
    with Session(engine) as session:
        actions = [a.actor for a in session.exec(select(AuditEntry).where(AuditEntry.action == "broadcast.cancel")).scalars()]  # type: ignore[call-overload]  # fmt: skip
    assert actions == ["duty officer", "duty officer"]
    with pytest.raises(ob.OutboxError, match="no broadcast 404"):
        ob.cancel_broadcast(engine, 404, operator="x")


def test_open_work_counts_what_could_still_move_and_done_broadcasts_are_marked(engine: Engine) -> None:
    first = make(engine, 2)
    make(engine, 1, drill=True, kind="apprise")
    c = take(engine, 1)
    work = {(w.state, w.channel_kind, w.drill): w.count for w in open_work(engine, now=T0)}
    assert work == {("queued", "sms", False): 1, ("claimed", "sms", False): 1, ("queued", "apprise", True): 1}
    rest = take(engine, 1)
    ob.record_results(engine, "me", [ob.ResultRecord(x.id, ob.ResultKind.DELIVERED) for x in c + rest])
    assert ob.mark_done(engine) == 1
    counts = broadcast_counts(engine, first)
    assert counts is not None and counts.status == "done"
