"""Fallback policies: the pure decision, the ``[[fallback]]`` configuration, and the store's sweep on SQLite
and PostgreSQL (exactly one step per parent and address, however many sweeps run at once)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session

from alertcast.channels.base import InboundMessage
from alertcast.config import ConfigError
from alertcast.core.escalation import (
    EscalationPolicy,
    StepRow,
    Verdict,
    contact_addresses,
    decide,
    policy_for,
    reachable_steps,
)
from alertcast.engine.escalation import parse_fallback
from alertcast.engine.inbound import ReplyMatcher
from alertcast.store.acks import AckSettings, AckStatus, record_reply
from alertcast.store.db import create_db_engine
from alertcast.store.models import Broadcast, Contact, Delivery
from alertcast.store.outbox import cancel_broadcast, create_broadcast, mark_done
from alertcast.store.outbox_escalation import escalation_status, escalation_sweep, escalations_due
from alertcast.store.outbox_types import BroadcastSpec, MessageText, OutboxError, Recipient

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = EscalationPolicy(name="std", steps=(("sms",), ("apprise",)), receipt_wait=600, ack_wait=900)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def judge(*rows: StepRow, ack: bool = False, acknowledged: bool = False, now: float = 0, reach=(0, 1)):  # type: ignore[no-untyped-def]
    return decide(
        rows,
        POLICY,
        ack_requested=ack,
        acknowledged=acknowledged,
        steps_reachable=reach,
        created_at=T0,
        now=at(now),
    )


# -- the decision ------------------------------------------------------------------------------------


def test_a_permanent_failure_moves_on_at_once_to_the_next_reachable_step() -> None:
    decision = judge(StepRow(7, 0, "failed", None))
    assert (decision.verdict, decision.next_step, decision.parent_id) == (Verdict.ESCALATE, 1, 7)
    assert judge(StepRow(7, 0, "failed", None), reach=(0,)).verdict is Verdict.SETTLE


def test_an_accepted_message_waits_for_its_receipt_then_moves_on() -> None:
    sent = StepRow(7, 0, "submitted", at(0))
    waiting = judge(sent, now=599)
    assert waiting.verdict is Verdict.WAIT and waiting.look_at == at(600)
    assert judge(sent, now=600).verdict is Verdict.ESCALATE


def test_a_delivered_message_ends_the_chain_unless_an_acknowledgement_is_awaited() -> None:
    delivered = StepRow(7, 0, "delivered", at(0))
    assert judge(delivered, now=5000).verdict is Verdict.SETTLE
    assert judge(delivered, ack=True, now=899).look_at == at(900)
    assert judge(delivered, ack=True, now=900).verdict is Verdict.ESCALATE
    # The earlier of the two timers applies to a message still waiting for its receipt.
    quick = EscalationPolicy(steps=(("sms",), ("apprise",)), receipt_wait=600, ack_wait=60)
    decision = decide([StepRow(7, 0, "submitted", at(0))], quick, ack_requested=True, acknowledged=False,
                      steps_reachable=(0, 1), created_at=T0, now=at(1))  # fmt: skip
    assert decision.look_at == at(60)


def test_an_acknowledgement_anywhere_in_the_chain_stops_it() -> None:
    chain = (StepRow(7, 0, "failed", None), StepRow(8, 1, "acknowledged", at(10)))
    assert judge(*chain).verdict is Verdict.ACKNOWLEDGED
    assert judge(StepRow(7, 0, "failed", None), acknowledged=True).verdict is Verdict.ACKNOWLEDGED


def test_a_step_moves_on_only_when_all_its_deliveries_are_hopeless() -> None:
    failed, queued = StepRow(7, 0, "failed", None), StepRow(8, 0, "queued", None)
    assert judge(failed, queued).verdict is Verdict.WAIT
    reached = StepRow(8, 0, "delivered", at(0))
    assert judge(failed, reached).verdict is Verdict.SETTLE
    late = StepRow(8, 0, "submitted", at(0))
    decision = judge(failed, late, now=700)
    assert (decision.verdict, decision.parent_id) == (Verdict.ESCALATE, 7)


def test_old_broadcasts_and_cancelled_deliveries_stop_escalating() -> None:
    assert judge(StepRow(7, 0, "failed", None), now=86400).verdict is Verdict.SETTLE
    assert judge(StepRow(7, 0, "cancelled", None)).verdict is Verdict.SETTLE


def test_addresses_and_reachable_steps() -> None:
    found = contact_addresses(("sms", "apprise"), "+15550001", "a@x.org", ["json://h/1", "a@x.org"])
    assert found == [("sms", "+15550001"), ("apprise", "a@x.org"), ("apprise", "json://h/1")]
    assert reachable_steps(POLICY, [("apprise", "a@x.org")]) == [1]
    assert contact_addresses(("apprise",), "+15550001", None) == []


def test_a_policy_limited_to_the_allowed_kinds_and_stored_with_the_broadcast() -> None:
    policy = EscalationPolicy(steps=(("sms", "apprise"), ("apprise",)))
    assert policy.restricted_to(["sms"]) == EscalationPolicy(steps=(("sms",),))
    assert policy.restricted_to(["drill"]) is None
    assert EscalationPolicy.from_json(POLICY.to_json()) == EscalationPolicy(
        name="std", steps=POLICY.steps, receipt_wait=600, ack_wait=900, stop_after=86400
    )
    assert EscalationPolicy.from_json({}) is None


# -- the configuration --------------------------------------------------------------------------------


def test_fallback_tables_are_read_with_defaults() -> None:
    policies = parse_fallback(
        [
            {"name": "urgent", "priorities": ["critical"], "steps": [["sms", "apprise"]]},
            {"priorities": ["routine", "elevated", "high", 3], "ack_wait_minutes": 15, "receipt_wait_minutes": 0.5},
        ]
    )  # fmt: skip
    urgent, standard = policies
    assert urgent.steps == (("sms", "apprise"),) and urgent.receipt_wait == 600
    assert standard.name == "fallback-2" and standard.steps == (("sms",), ("apprise",))
    assert (standard.receipt_wait, standard.ack_wait, standard.stop_after) == (30, 900, 86400)
    assert policy_for(policies, 4) is urgent and policy_for(policies, 0) is standard
    assert parse_fallback(None) == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"steps": ["sms", "pager"]}], r"fallback\[0\]\.steps\[1\]: unknown kind 'pager'"),
        ([{"steps": []}], r"fallback\[0\]\.steps: expected a list"),
        ([{"priorities": ["urgent"]}], r"fallback\[0\]\.priorities: unknown priority 'urgent'"),
        ([{"receipt_wait_minutes": -1}], r"fallback\[0\]\.receipt_wait_minutes: expected a number >= 0"),
        ([{"ack_wait": 5}], r"fallback\[0\]: unknown key\(s\) ack_wait"),
        ([{}, {"priorities": ["high"]}], r"fallback\[1\]\.priorities: high is already covered by policy 'fallback-1'"),
        ({"steps": ["sms"]}, r"fallback: expected an array of tables"),
    ],
)  # fmt: skip
def test_fallback_mistakes_name_the_key(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_fallback(raw)


# -- the sweep on a real store ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, db_url: str) -> Iterator[Engine]:
    url = (
        db_url if request.param == "sqlite" else request.getfixturevalue("pg_cluster").create_database("esc")
    )
    engine = create_db_engine(url)
    yield engine
    engine.dispose()


def people(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        rows = {
            "ana": Contact(
                name="ana", phone="+12025550111", email="ana@x.org", apprise_urls=["json://h/ana"]
            ),
            "ben": Contact(name="ben", phone="+12025550122", email="ben@x.org"),
            "cid": Contact(name="cid", phone="+12025550133"),
        }
        session.add_all(rows.values())
        session.commit()
        return {k: c.id for k, c in rows.items()}  # type: ignore[misc]


def broadcast(engine: Engine, ids: dict[str, int], *, ack: bool = True, policy: EscalationPolicy = POLICY) -> int:  # fmt: skip
    phones = {"ana": "+12025550111", "ben": "+12025550122", "cid": "+12025550133"}
    spec = BroadcastSpec(
        operator="t",
        title="Boil water",
        messages={"en": MessageText("Boil water. Reply ACK 7F3K")},
        recipients=[Recipient(ids[n], phones[n], "sms") for n in ids],
        ack_requested=ack,
        ack_code="7F3K" if ack else None,
        escalation=policy.to_json(),
    )
    with Session(engine) as session:
        broadcast_id = create_broadcast(session, spec, now=T0)
        session.commit()
    return broadcast_id


def set_state(engine: Engine, broadcast_id: int, contact_id: int, state: str, seconds: float = 0) -> None:
    with Session(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.broadcast_id == broadcast_id, Delivery.contact_id == contact_id)  # type: ignore[arg-type]
            .values(state=state, submitted_at=at(seconds), attempts=1)
        )
        session.commit()


def chain(engine: Engine, broadcast_id: int, contact_id: int) -> list[tuple[int, str, str, int | None]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Delivery).where(Delivery.broadcast_id == broadcast_id, Delivery.contact_id == contact_id).order_by(Delivery.id)  # type: ignore[arg-type]
        ).scalars()  # fmt: skip
        return [(d.step, d.channel_kind, d.address, d.parent_id) for d in rows]


def test_a_failed_sms_gets_its_next_step_once_linked_to_it(engine: Engine) -> None:
    ids = people(engine)
    b = broadcast(engine, ids, ack=False)
    set_state(engine, b, ids["ana"], "failed")
    set_state(engine, b, ids["ben"], "delivered")
    set_state(engine, b, ids["cid"], "failed")
    assert mark_done(engine) == 1  # nothing queued: done, but the fallback steps are still to come
    assert escalations_due(engine, at(1)) == 2
    summary = escalation_sweep(engine, now=at(1))
    assert (summary.escalated, summary.created) == (1, 2)  # cid has no e-mail: nothing to fall back to
    with Session(engine) as session:
        sms_id = session.execute(select(Delivery.id).where(Delivery.address == "+12025550111")).scalar()
        status = session.execute(select(Broadcast.status).where(Broadcast.id == b)).scalar()
    assert chain(engine, b, ids["ana"]) == [
        (0, "sms", "+12025550111", None),
        (1, "apprise", "ana@x.org", sms_id),
        (1, "apprise", "json://h/ana", sms_id),
    ]
    assert status == "active"  # made active again, or no engine would claim the new deliveries
    assert escalation_sweep(engine, now=at(2)).created == 0
    assert escalations_due(engine, at(599)) == 0
    # Ben's first look comes with the earliest timer; he was reached and no ack is asked: nothing follows.
    summary = escalation_sweep(engine, now=at(600))
    assert (summary.looked, summary.settled, summary.created) == (1, 1, 0)
    assert len(chain(engine, b, ids["ben"])) == 1
    assert escalation_status(engine, b).watched == 0


def test_no_acknowledgement_in_time_escalates_and_an_acknowledgement_stops_it(engine: Engine) -> None:
    ids = people(engine)
    b = broadcast(engine, ids)
    set_state(engine, b, ids["ana"], "delivered")
    set_state(engine, b, ids["ben"], "delivered")
    outcome = record_reply(engine, "sms", "+12025550122", "ACK 7F3K", at(100), config=AckSettings())
    assert outcome.status is AckStatus.MATCHED
    assert escalation_sweep(engine, now=at(899)).created == 0
    summary = escalation_sweep(engine, now=at(900))
    assert summary.escalated == 1 and len(chain(engine, b, ids["ana"])) == 3
    assert len(chain(engine, b, ids["ben"])) == 1
    with Session(engine) as session:
        codes = session.execute(select(Delivery.ack_code).where(Delivery.step == 1)).scalars().all()
    assert len(codes) == 2 and all(c and len(c) >= 16 for c in codes)  # each e-mail gets its own ack link
    # Ana answers the text message after the e-mail was queued: the engine's handler stops the e-mail.
    reply = InboundMessage("sms", "12025550111", "ok", at(901))
    report = ReplyMatcher(AckSettings())(engine, [reply])
    assert (report.acknowledged, report.not_sent) == (1, 2)
    with Session(engine) as session:
        states = session.execute(
            select(Delivery.state, Delivery.error).where(Delivery.step == 1, Delivery.broadcast_id == b)
        ).all()
    assert states == [("cancelled", "not sent: the recipient has acknowledged")] * 2
    assert escalation_sweep(engine, now=at(5000)).created == 0
    assert escalation_status(engine, b).watched == 0


def test_cancel_and_expiry_stop_escalation(engine: Engine) -> None:
    ids = people(engine)
    b = broadcast(engine, ids)
    set_state(engine, b, ids["ana"], "failed")
    mark_done(engine)
    assert cancel_broadcast(engine, b, now=at(1)).status == "cancelled"  # a done broadcast can be cancelled
    assert escalations_due(engine, at(2)) == 0
    assert escalation_sweep(engine, now=at(2)).created == 0
    b2 = broadcast(engine, ids)
    with Session(engine) as session:
        session.execute(update(Broadcast).where(Broadcast.id == b2).values(expires_at=at(10)))  # type: ignore[arg-type]
        session.commit()
    set_state(engine, b2, ids["ana"], "failed")
    summary = escalation_sweep(engine, now=at(11))
    assert summary.created == 0 and summary.settled >= 1


def test_many_sweeps_at_once_create_each_step_exactly_once(engine: Engine) -> None:
    ids = people(engine)
    broadcasts = [broadcast(engine, ids) for _ in range(4)]
    for b in broadcasts:
        for name in ("ana", "ben"):
            set_state(engine, b, ids[name], "failed")
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def sweep() -> None:
        try:
            start.wait(10)
            results.append(escalation_sweep(engine, now=at(1), limit=3).created)
            results.append(escalation_sweep(engine, now=at(1)).created)
        except BaseException as exc:  # reported below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    with Session(engine) as session:
        children = session.execute(select(func.count()).where(Delivery.parent_id.is_not(None))).scalar()  # type: ignore[union-attr]
    assert children == 4 * 3 == sum(results)  # ana: e-mail + web hook, ben: e-mail; per broadcast


def test_a_spec_with_an_empty_policy_or_a_bad_step_is_refused(engine: Engine) -> None:
    ids = people(engine)
    spec = BroadcastSpec(
        operator="t",
        title="x",
        messages={"en": MessageText("x")},
        recipients=[Recipient(ids["ana"], "+12025550111", "sms", step=-1)],
    )
    with Session(engine) as session, pytest.raises(OutboxError, match="step must be an integer >= 0"):
        create_broadcast(session, spec)
    with Session(engine) as session, pytest.raises(OutboxError, match="escalation policy has no steps"):
        create_broadcast(session, BroadcastSpec(**{**spec.__dict__, "escalation": {"steps": []}}))
