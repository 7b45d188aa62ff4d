"""How fast the fallback sweep works through a big broadcast, on SQLite.

20,000 contacts with a phone and an e-mail address get a broadcast under a ``sms → apprise`` policy. Then:
every SMS fails (a network outage) and the sweep creates 20,000 e-mail steps; and, for a second broadcast,
every SMS is delivered and the sweep stops watching 20,000 rows at their first look. Also shown: what an
idle sweep costs (nothing due), which every engine pays every ``escalation_seconds``.

    uv run python bench/escalation.py [--people 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select, update
from sqlmodel import Session

from alertcast.core.escalation import EscalationPolicy
from alertcast.store.db import create_db_engine
from alertcast.store.models import Contact, Delivery
from alertcast.store.outbox import create_broadcast
from alertcast.store.outbox_escalation import escalation_sweep, escalations_due
from alertcast.store.outbox_types import BroadcastSpec, MessageText, Recipient

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = EscalationPolicy(name="bench", steps=(("sms",), ("apprise",)), receipt_wait=600)


def people(engine: Engine, n: int) -> list[int]:
    rows = [
        {"name": f"p{i}", "phone": f"+1202{i:07d}", "email": f"p{i}@bench.example", "language": "en",
         "apprise_urls": [], "geocodes": [], "opted_out": False}
        for i in range(n)
    ]  # fmt: skip
    with Session(engine) as session:
        session.execute(insert(Contact), rows)
        session.commit()
        return list(session.execute(select(Contact.id).order_by(Contact.id)).scalars())  # type: ignore[arg-type]


def broadcast(engine: Engine, ids: list[int]) -> int:
    spec = BroadcastSpec(
        operator="bench",
        title="bench",
        messages={"en": MessageText("Boil water before drinking it.")},
        recipients=[Recipient(cid, f"+1202{i:07d}", "sms") for i, cid in enumerate(ids)],
        escalation=POLICY.to_json(),
    )
    with Session(engine) as session:
        broadcast_id = create_broadcast(session, spec, now=T0)
        session.commit()
    return broadcast_id


def settle_sms(engine: Engine, broadcast_id: int, state: str) -> None:
    with Session(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.broadcast_id == broadcast_id)  # type: ignore[arg-type]
            .values(state=state, attempts=1, submitted_at=T0, final_at=T0)
        )
        session.commit()


def sweep_all(engine: Engine, now: datetime, batch: int) -> tuple[float, int, int, int]:
    started = time.perf_counter()
    looked = created = rounds = 0
    while True:
        summary = escalation_sweep(engine, now=now, limit=batch)
        rounds += 1
        looked += summary.looked
        created += summary.created
        if summary.looked < batch:
            return time.perf_counter() - started, looked, created, rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alertcast-bench-") as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/bench.db")
        ids = people(engine, args.people)
        failing, reached = broadcast(engine, ids), broadcast(engine, ids)
        settle_sms(engine, failing, "failed")
        settle_sms(engine, reached, "delivered")
        seconds, looked, created, rounds = sweep_all(engine, T0 + timedelta(seconds=1), args.batch)
        print(
            f"all SMS failed: {looked} rows looked at, {created} e-mail steps created in {seconds:.2f} s "
            f"({created / seconds:,.0f} steps/s, {rounds} transactions of up to {args.batch})"
        )
        seconds, looked, created, rounds = sweep_all(engine, T0 + timedelta(seconds=601), args.batch)
        print(
            f"all SMS delivered: {looked} rows settled at their first look in {seconds:.2f} s ({looked / seconds:,.0f}/s)"
        )
        with Session(engine) as session:
            watched = session.execute(select(func.count()).where(Delivery.escalate_at.is_not(None))).scalar()  # type: ignore[union-attr]
        print(f"rows still watched afterwards: {watched}")
        started = time.perf_counter()
        for _ in range(100):
            due = escalations_due(engine, T0 + timedelta(seconds=700), cap=1)
        idle = (time.perf_counter() - started) / 100
        print(f"an idle engine's check (is anything due?): {idle * 1000:.2f} ms (answer: {due})")
        engine.dispose()


if __name__ == "__main__":
    main()
