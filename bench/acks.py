"""Acknowledgement speed: reading replies, matching a reply storm, and the summary of a big broadcast.

A broadcast to 20,000 people (SQLite file, as the engine uses it) after two older ones, then one reply per
person in batches of 200 (as the engine's inbound handler gets them), a fifth of them with the code.
Target: matching well above the rate replies arrive (an SMSC delivers a few hundred per second), and the
summary of 20,000 recipients under a second. Run with ``uv run python bench/acks.py``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update
from sqlmodel import Session

from alertcast.core.replies import parse_reply
from alertcast.store.ack_report import ack_summary
from alertcast.store.acks import AckSettings, AckStatus, record_replies
from alertcast.store.db import create_db_engine
from alertcast.store.models import Contact, Delivery
from alertcast.store.outbox import create_broadcast
from alertcast.store.outbox_types import BroadcastSpec, MessageText, Recipient

PEOPLE = 20_000
BATCH = 200
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEXTS = ["OK", "ack", "Sí", "1", "yes thanks", "是", "OK 7F3K", "I'm safe", "ACK 7F3K", "oui"]


@dataclass(frozen=True)
class Reply:
    channel: str
    sender: str
    text: str
    received_at: datetime


def main() -> None:
    parse_reply("warm up", language="en")  # builds the word index once
    start = time.perf_counter()
    for _ in range(20):
        for text in TEXTS:
            parse_reply(text, language="en")
    per_parse = (time.perf_counter() - start) / (20 * len(TEXTS))
    print(f"parse_reply: {per_parse * 1e6:.0f} µs per reply")

    with tempfile.TemporaryDirectory() as folder:
        engine = create_db_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        phones = [f"+1415{5_000_000 + i:07d}" for i in range(PEOPLE)]
        with engine.begin() as connection:
            connection.execute(
                insert(Contact),
                [
                    {"name": f"p{i}", "phone": p, "apprise_urls": [], "geocodes": []}
                    for i, p in enumerate(phones)
                ],
            )
        ids = list(range(1, PEOPLE + 1))
        for code, minutes in (("2AAA", 0), ("3BBB", 1), ("7F3K", 2)):
            with Session(engine) as session:
                spec = BroadcastSpec(
                    operator="bench",
                    title=code,
                    messages={"en": MessageText(f"Flood. Reply ACK {code}")},
                    recipients=[Recipient(i, p) for i, p in zip(ids, phones, strict=True)],
                    ack_requested=True,
                    ack_code=code,
                )
                create_broadcast(session, spec, now=T0 + timedelta(minutes=minutes))
                session.commit()
        with engine.begin() as connection:
            connection.execute(update(Delivery).values(state="submitted", attempts=1))
        replies = [
            Reply(
                "smsc", p.removeprefix("+"), TEXTS[i % len(TEXTS)], T0 + timedelta(minutes=5, seconds=i / 100)
            )
            for i, p in enumerate(phones)
        ]
        settings = AckSettings()
        start = time.perf_counter()
        matched = 0
        for first in range(0, len(replies), BATCH):
            outcomes = record_replies(engine, replies[first : first + BATCH], settings)
            matched += sum(o.status is AckStatus.MATCHED for o in outcomes)
        took = time.perf_counter() - start
        print(
            f"record_replies: {PEOPLE} replies in {took:.2f} s = {PEOPLE / took:,.0f} replies/s ({matched} matched)"
        )
        start = time.perf_counter()
        summary = ack_summary(engine, 3)
        print(
            f"ack_summary: {summary.recipients} recipients, {summary.acknowledged} acknowledged, "
            f"in {time.perf_counter() - start:.2f} s"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
