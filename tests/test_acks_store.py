"""Matching replies to broadcasts in a real SQLite store: credited to the sender for a broadcast they got,
or to nobody; per-recipient links; and the acknowledgement summary of a broadcast."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import Session

from alertcast.channels.base import InboundMessage
from alertcast.config import Config, ConfigError, ContactsConfig
from alertcast.store.ack_links import ack_by_token, assign_link_tokens, link_info, link_token, parse_token
from alertcast.store.ack_report import ack_summary
from alertcast.store.acks import AckOutcome, AckSettings, AckStatus, record_reply, reply_handler
from alertcast.store.db import create_db_engine
from alertcast.store.models import Ack, Contact, Delivery
from alertcast.store.outbox import create_broadcast
from alertcast.store.outbox_types import BroadcastSpec, MessageText, OutboxError, Recipient

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = AckSettings(default_region="US")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, db_url: str) -> Iterator[Engine]:
    """Every matching rule on both stores: SQLite (the default) and PostgreSQL."""
    url = (
        db_url if request.param == "sqlite" else request.getfixturevalue("pg_cluster").create_database("acks")
    )
    engine = create_db_engine(url)
    yield engine
    engine.dispose()


@dataclass
class Town:
    engine: Engine
    ids: dict[str, int]

    def broadcast(
        self,
        people: Sequence[str],
        *,
        code: str | None = "7F3K",
        at: datetime = T0,
        kind: str = "sms",
        sent: bool = True,
    ) -> int:
        with Session(self.engine) as session:
            rows = session.execute(
                select(Contact.id, Contact.phone, Contact.email).where(Contact.name.in_(people))
            )
            by_id = {r.id: r for r in rows}
            recipients = [
                Recipient(
                    self.ids[p],
                    (by_id[self.ids[p]].phone if kind == "sms" else by_id[self.ids[p]].email) or "",
                    kind,
                )
                for p in people
            ]
            spec = BroadcastSpec(
                operator="tester",
                title=f"Alert {code}",
                messages={"en": MessageText(f"Flood. Reply ACK {code}", "Flood", "Flood body")},
                recipients=recipients,
                ack_requested=code is not None,
                ack_code=code,
            )
            broadcast_id = create_broadcast(session, spec, now=at)
            session.commit()
        if sent:
            self.set_state(broadcast_id, "submitted", at + timedelta(seconds=5))
        return broadcast_id

    def set_state(self, broadcast_id: int, state: str, at: datetime = T0, attempts: int = 1) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(Delivery)
                .where(Delivery.broadcast_id == broadcast_id)
                .values(state=state, submitted_at=at, attempts=attempts)
            )

    def deliveries(self, broadcast_id: int) -> dict[str, Delivery]:
        with Session(self.engine) as session:
            rows = session.execute(select(Delivery).where(Delivery.broadcast_id == broadcast_id)).scalars()
            names = {v: k for k, v in self.ids.items()}
            return {names[d.contact_id]: d for d in rows}

    def acks(self) -> list[Ack]:
        with Session(self.engine) as session:
            return list(session.execute(select(Ack).order_by(Ack.id)).scalars())


@pytest.fixture
def town(engine: Engine) -> Town:
    people = [
        ("ana", "+14155550101", "ana@example.org", "en"),
        ("ben", "+14155550102", "ben@example.org", "es"),
        ("chi", "+4915112345678", "chi@example.org", "de"),
        ("dee", None, "family@example.org", "en"),
        ("eli", None, "family@example.org", "en"),
    ]
    ids = {}
    with Session(engine) as session:
        for name, phone, email, language in people:
            contact = Contact(name=name, phone=phone, email=email, language=language)
            session.add(contact)
            session.flush()
            ids[name] = contact.id
        session.commit()
    return Town(engine, ids)


def reply(town: Town, sender: str, text: str, at: datetime = T0 + timedelta(minutes=3)) -> AckOutcome:
    return record_reply(town.engine, "smpp-a", sender, text, at, config=SETTINGS)


def test_a_code_credits_that_broadcast_for_that_sender_only(town: Town) -> None:
    first = town.broadcast(["ana", "ben"], code="7F3K")
    second = town.broadcast(["ana"], code="9XQ2", at=T0 + timedelta(minutes=1))
    outcome = reply(town, "14155550101", "ack 7f3k")  # an SMSC that drops the '+'
    assert outcome.status is AckStatus.MATCHED and outcome.broadcast_id == first
    ana = town.deliveries(first)["ana"]
    assert outcome.delivery_id == ana.id and outcome.contact_id == town.ids["ana"]
    assert ana.state == "acknowledged" and ana.submitted_at is not None and ana.final_at is not None
    assert town.deliveries(second)["ana"].state == "submitted"  # the newer broadcast is not touched
    stolen = reply(town, "+14155550102", "ACK 9XQ2")  # ben never got broadcast 9XQ2
    assert stolen.status is AckStatus.UNMATCHED and "not sent to this sender" in stolen.reason
    assert stolen.broadcast_id is None and stolen.delivery_id is None
    assert town.deliveries(second)["ana"].state == "submitted"
    assert [a.matched for a in town.acks()] == [True, False]


def test_without_a_code_the_newest_broadcast_asking_for_an_ack_is_credited(town: Town) -> None:
    older = town.broadcast(["ana"], code="7F3K")
    newer = town.broadcast(["ana"], code="HKMP", at=T0 + timedelta(minutes=1))
    town.broadcast(["ana"], code=None, at=T0 + timedelta(minutes=2))  # newest, but no ack asked
    outcome = reply(town, "(415) 555-0101", "OK")
    assert outcome.status is AckStatus.MATCHED and outcome.broadcast_id == newer
    assert town.deliveries(older)["ana"].state == "submitted"


def test_unknown_senders_and_codes_are_kept_and_never_credited(town: Town) -> None:
    b = town.broadcast(["ana", "ben"])
    stranger = reply(town, "+14155550199", "ACK")
    assert stranger.status is AckStatus.UNMATCHED and stranger.reason.startswith("unknown sender")
    typo = reply(town, "+14155550101", "ACK 7F3Q")
    assert typo.status is AckStatus.UNMATCHED and typo.reason == "unknown code 7F3Q"
    stranger_code = reply(town, "+14155550199", "ACK 7F3K")  # a real code, from a number that got nothing
    assert stranger_code.status is AckStatus.UNMATCHED and "not sent to this sender" in stranger_code.reason
    assert {d.state for d in town.deliveries(b).values()} == {"submitted"}
    rows = town.acks()
    assert [r.matched for r in rows] == [False, False, False]
    assert rows[0].contact_id is None and rows[0].broadcast_id is None and rows[0].sender == "+14155550199"
    assert rows[1].contact_id == town.ids["ana"]  # known person, shown with the reply, not credited


def test_acknowledging_twice_changes_nothing(town: Town) -> None:
    b = town.broadcast(["ana"])
    first = reply(town, "+14155550101", "ACK 7F3K")
    again = reply(town, "+14155550101", "ack 7f3k", at=T0 + timedelta(minutes=9))
    more = reply(town, "+14155550101", "OK, leaving now", at=T0 + timedelta(minutes=10))
    assert again.status is AckStatus.DUPLICATE and again.ack_id == first.ack_id
    assert more.status is AckStatus.DUPLICATE
    rows = town.acks()
    assert [(r.matched, r.reason.split(";")[0]) for r in rows] == [
        (True, "acknowledgement (code 7F3K)"),
        (False, f"already acknowledged (ack {first.ack_id})"),
    ]
    assert town.deliveries(b)["ana"].final_at == T0 + timedelta(minutes=3)
    assert ack_summary(town.engine, b).acknowledged == 1


def test_replies_that_are_not_acks_reach_the_operator_with_their_context(town: Town) -> None:
    b = town.broadcast(["ana", "ben"])
    stop = reply(town, "+14155550102", "BAJA")
    help_ = reply(town, "+14155550101", "HELP trapped on roof")
    negative = reply(town, "+14155550101", "not ok")
    assert [o.status for o in (stop, help_, negative)] == [AckStatus.UNMATCHED] * 3
    assert stop.reason == "opt-out request ('baja')" and stop.contact_id == town.ids["ben"]
    assert stop.broadcast_id == b
    assert help_.reason.startswith("help request") and negative.reason.startswith("negative reply")
    assert {d.state for d in town.deliveries(b).values()} == {"submitted"}


def test_international_and_national_forms_of_the_sender_match(town: Town) -> None:
    b = town.broadcast(["chi"])
    outcome = reply(town, "004915112345678", "Ja")  # 00 prefix, region US: still Germany
    assert outcome.status is AckStatus.MATCHED and outcome.broadcast_id == b
    assert outcome.reply is not None and outcome.reply.language == "de"


def test_a_reply_without_code_only_matches_recent_broadcasts(town: Town) -> None:
    old = town.broadcast(["ana"], at=T0 - timedelta(days=4))
    late = reply(town, "+14155550101", "OK")
    assert late.status is AckStatus.UNMATCHED and "last 72 h" in late.reason
    coded = reply(town, "+14155550101", "ACK 7F3K")
    assert coded.status is AckStatus.MATCHED and coded.broadcast_id == old


def test_a_delivery_never_sent_cannot_be_acknowledged(town: Town) -> None:
    b = town.broadcast(["ana"], sent=False)
    assert reply(town, "+14155550101", "OK").status is AckStatus.UNMATCHED
    assert "not sent to this sender" in reply(town, "+14155550101", "ACK 7F3K").reason
    town.set_state(b, "queued", attempts=1)  # tried once, queued again for a retry: it may have arrived
    assert reply(town, "+14155550101", "ACK 7F3K").status is AckStatus.MATCHED
    assert town.deliveries(b)["ana"].state == "acknowledged"  # and the retry will not go out


def test_a_person_reached_by_email_may_answer_by_sms(town: Town) -> None:
    b = town.broadcast(["ana"], kind="apprise")
    outcome = reply(town, "+14155550101", "yes")
    assert outcome.status is AckStatus.MATCHED and outcome.delivery_id == town.deliveries(b)["ana"].id


def test_an_address_shared_by_two_recipients_credits_neither(town: Town) -> None:
    b = town.broadcast(["dee", "eli"], kind="apprise")
    outcome = record_reply(
        town.engine, "imap", "Family@Example.org", "OK", T0 + timedelta(minutes=2), config=SETTINGS
    )
    assert outcome.status is AckStatus.UNMATCHED and "shared by contacts" in outcome.reason
    assert {d.state for d in town.deliveries(b).values()} == {"submitted"}


def test_link_tokens_acknowledge_by_post_only_once_and_only_when_valid(town: Town) -> None:
    b = town.broadcast(["ana", "ben"], sent=False)
    tokens = assign_link_tokens(town.engine, b)
    assert len(tokens) == 2 and len(set(tokens.values())) == 2
    assert assign_link_tokens(town.engine, b) == tokens  # stable: retries carry the same link
    ana_id = town.deliveries(b)["ana"].id
    token = tokens[ana_id]
    parsed = parse_token(token)
    assert parsed is not None and parsed[0] == ana_id and len(parsed[1]) >= 16  # 96 random bits
    assert ack_by_token(town.engine, token) is None  # not sent yet: nobody can hold this link
    town.set_state(b, "delivered")
    assert link_info(town.engine, token) == link_info(town.engine, token)
    info = link_info(town.engine, token)
    assert info is not None and info.title == "Alert 7F3K" and not info.acknowledged
    outcome = ack_by_token(town.engine, token, at=T0 + timedelta(minutes=4))
    assert outcome is not None and outcome.status is AckStatus.MATCHED and outcome.delivery_id == ana_id
    assert ack_by_token(town.engine, token).status is AckStatus.DUPLICATE  # type: ignore[union-attr]
    assert link_info(town.engine, token).acknowledged  # type: ignore[union-attr]
    ben_id = town.deliveries(b)["ben"].id
    forged = [
        link_token(ben_id, parsed[1]),  # ana's secret on ben's delivery
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "zzzzzz." + parsed[1],  # beyond PostgreSQL's INTEGER
        "z" * 13 + "." + parsed[1],  # beyond any 64-bit id
        "not-a-token",
        "",
    ]
    for bad in forged:
        assert ack_by_token(town.engine, bad) is None and link_info(town.engine, bad) is None, bad
    assert town.deliveries(b)["ben"].state == "delivered"


def test_summary_counts_people_and_times_acknowledgements(town: Town, engine: Engine) -> None:
    with Session(engine) as session:
        for i in range(15):
            session.add(Contact(name=f"p{i:02d}", phone=f"+1415555{i + 200:04d}"))
        session.commit()
        town.ids.update({c.name: c.id for c in session.execute(select(Contact)).scalars()})
    names = [f"p{i:02d}" for i in range(15)]
    b = town.broadcast(names)
    deliveries = town.deliveries(b)
    with engine.begin() as connection:
        connection.execute(update(Delivery).where(Delivery.id == deliveries["p13"].id).values(state="failed"))
        connection.execute(
            update(Delivery).where(Delivery.id == deliveries["p14"].id).values(state="queued", attempts=0)
        )
        connection.execute(
            update(Delivery).where(Delivery.id == deliveries["p12"].id).values(state="delivered")
        )
    for i in range(12):  # p00 after 1 min, p01 after 2 min, ...
        assert reply(town, f"+1415555{i + 200:04d}", "OK", at=T0 + timedelta(minutes=i + 1)).matched
    summary = ack_summary(engine, b, limit=2)
    assert (summary.recipients, summary.acknowledged, summary.delivered, summary.failed, summary.pending) == (
        15,
        12,
        1,
        1,
        1,
    )
    assert summary.first_ack_after == timedelta(minutes=1)
    assert summary.ninety_percent_after is None  # 12 of 15 is 80 %
    assert summary.not_acknowledged_total == 3
    assert [(u.name, u.state) for u in summary.not_acknowledged] == [("p12", "delivered"), ("p14", "pending")]
    for i in (12, 13):
        assert reply(town, f"+1415555{i + 200:04d}", "1", at=T0 + timedelta(minutes=30 + i)).matched
    summary = ack_summary(engine, b)
    assert summary.acknowledged == 14 and summary.ninety_percent_after == timedelta(
        minutes=43
    )  # p13, 14th of 15
    with pytest.raises(OutboxError, match="no broadcast 999"):
        ack_summary(engine, 999)


def test_the_engine_handler_matches_a_batch_in_order(town: Town) -> None:
    b = town.broadcast(["ana", "ben"])
    handle = reply_handler(SETTINGS)
    at = T0 + timedelta(minutes=5)
    handle(
        town.engine,
        [
            InboundMessage("modem-1", "+14155550101", "SÍ 7F3K", at),
            InboundMessage("modem-1", "+14155550101", "SÍ 7F3K", at),
            InboundMessage("modem-1", "4155550102", "stop", at),
        ],
    )
    assert [(a.channel, a.matched, a.delivery_id) for a in town.acks()] == [
        ("modem-1", True, town.deliveries(b)["ana"].id),
        ("modem-1", False, town.deliveries(b)["ben"].id),
    ]


def test_a_reply_recorded_in_the_callers_session_commits_with_it(town: Town) -> None:
    town.broadcast(["ana"])
    with Session(town.engine) as session:
        outcome = record_reply(
            session, "smpp-a", "+14155550101", "OK", T0 + timedelta(minutes=1), config=SETTINGS
        )
        assert outcome.matched
        session.rollback()
    assert town.acks() == []


def test_settings_come_from_the_acks_table(tmp_path: Path) -> None:
    def config(acks: dict[str, object]) -> Config:
        return Config(
            path=tmp_path / "alertcast.toml", contacts=ContactsConfig("DE"), sections={"acks": acks}
        )

    settings = AckSettings.from_config(
        config({"match_window_hours": 6, "words": {"affirmative": {"tl": ["opo"]}}})
    )
    assert settings.default_region == "DE" and settings.match_window == timedelta(hours=6)
    for bad, needle in [
        ({"match_window_hours": 0}, "acks.match_window_hours"),
        ({"code_lengths": [2]}, "acks.code_lengths"),
        ({"words": {"affirmative": {"tl": "opo"}}}, "acks.words.affirmative.tl"),
        ({"window": 3}, "unknown key(s) window"),
    ]:
        with pytest.raises(
            ConfigError, match=needle.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")
        ):
            AckSettings.from_config(config(bad))
