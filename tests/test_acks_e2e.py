"""Acknowledgements end to end: replies typed on phones reach the engine through the simulated SMSC and the
simulated GSM modems and are credited to the broadcast their sender received, or to nobody; an e-mail's
ack link confirms with one click; and a call-out that gets no answer in time escalates to the next channel,
except for the people who answered."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlmodel import Session

from alertcast.cli.root import cli
from alertcast.engine.events import EngineNotice
from alertcast.services.status import broadcast_status
from alertcast.sim.modem import ModemBankSimulator, ModemSettings
from alertcast.store.models import Contact
from tests.fallback_world import town, until

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]

QUICK_MODEM = ModemSettings(send_delay=0.005, report_delay=0.01)
ANA, BEN, CRUZ = "+12025550171", "+12025550172", "+12025550173"


@pytest.fixture
def modems() -> Iterator[ModemBankSimulator]:
    with ModemBankSimulator(1, settings=QUICK_MODEM) as sim:
        yield sim


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_replies_through_smsc_and_modems_are_credited_to_the_right_broadcast_or_to_nobody(
    tmp_path: Path, modems: ModemBankSimulator
) -> None:
    bank = {"name": "modems", "type": "modem", "kind": "sms", "drill": True, "ports": modems.port_paths}
    with town(tmp_path, fallback=[], extra_routes=[bank]) as t:
        t.add("ana", phone=ANA)
        t.add("ben", phone=BEN)
        t.add("cruz", phone=CRUZ)
        first = t.send("ana", "ben", "cruz", ack=True, text="Storm shelter check-in.")
        second = t.send("ana", "ben", ack=True, text="Shelter closes at noon.")
        t.start()
        sent = lambda: all(d.state == "delivered" for b in (first, second) for d in t.deliveries(b))  # noqa: E731
        until(sent, 20, "every SMS delivered (receipts and status reports)")
        code1, code2 = t.code(first), t.code(second)
        t.smsc.inject_mo(
            ANA.lstrip("+"), "TownEM", f"ack {code1.lower()}"
        )  # the older broadcast, by its code
        modems.inject_sms(0, BEN, "Yes, safe")  # no code: the newest broadcast ben was asked to confirm
        t.smsc.inject_mo(CRUZ.lstrip("+"), "TownEM", f"ACK {code2}")  # a code cruz never received
        t.smsc.inject_mo("15055550999", "TownEM", f"ACK {code1}")  # a stranger who saw the code
        modems.inject_sms(0, CRUZ, "STOP")
        t.smsc.inject_mo(BEN.lstrip("+"), "TownEM", "HELP trapped on the roof")
        until(lambda: len(t.acks()) == 6, 20, "six replies stored")
        summary = t.stop()
        acks = {(a.sender.lstrip("+"), a.text): a for a in t.acks()}
        credited = {(a.broadcast_id, a.contact_id) for a in acks.values() if a.matched}
        assert credited == {(first, t.people["ana"]), (second, t.people["ben"])}
        assert acks[(BEN.lstrip("+"), "Yes, safe")].channel == "modems"
        assert "not sent to this sender" in acks[(CRUZ.lstrip("+"), f"ACK {code2}")].reason
        stranger = acks[("15055550999", f"ACK {code1}")]
        assert stranger.contact_id is None and "not sent to this sender" in stranger.reason
        assert acks[(CRUZ.lstrip("+"), "STOP")].reason.startswith("opt-out request")
        assert [d.state for d in t.deliveries(first, "ana")] == ["acknowledged"]
        assert [d.state for d in t.deliveries(second, "ana")] == ["delivered"]
        with Session(t.ctx.engine) as session:
            opted_out = session.execute(
                select(Contact.opted_out).where(Contact.id == t.people["cruz"])
            ).scalar()
        assert opted_out is False  # recorded and reported, not applied
        texts = [e.text for e in t.events if isinstance(e, EngineNotice)]
        assert any(x.startswith("opt-out request from") and CRUZ.lstrip("+") in x for x in texts), texts
        assert any(x.startswith("HELP requested by") and "trapped" in x for x in texts), texts
        assert (summary.acknowledged, summary.opt_out_requests, summary.help_requests) == (2, 1, 1)
        status = broadcast_status(t.ctx, first, details=True).as_dict()
        assert status["acks"]["acknowledged"] == 1 and status["acks"]["first_ack_seconds"] is not None
        assert {p["name"] for p in status["acks"]["not_acknowledged"]} == {"ben", "cruz"}
        assert [r["text"] for r in status["replies"]["opt_out_requests"]] == ["STOP"]
        helps = broadcast_status(t.ctx, second, details=True).as_dict()["replies"]["help_requests"]
        assert [r["text"] for r in helps] == ["HELP trapped on the roof"]
        shown = CliRunner().invoke(cli, ["--config", str(tmp_path / "alertcast.toml"), "status", str(first)])
        assert shown.exit_code == 0, shown.output
        assert "people: 1 acknowledged, 2 delivered" in shown.output
        assert "not acknowledged: ben (delivered)" in shown.output and "opt-out request: " in shown.output


def test_a_call_out_escalates_after_the_ack_timeout_and_stops_for_whoever_answered(tmp_path: Path) -> None:
    port = free_port()
    links = {"enabled": True, "host": "127.0.0.1", "port": port, "base_url": f"http://127.0.0.1:{port}"}
    callout = {"name": "call-out", "steps": ["sms", "apprise", "sms"], "ack_wait_minutes": 0.1}  # 6 s
    with town(tmp_path, fallback=[callout], ack_links=links) as t:
        t.add("ana", phone=ANA, email="ana@town.example")
        t.add("ben", phone=BEN, email="ben@town.example")
        b = t.send("ana", "ben", ack=True, text="All staff: report to the EOC.")
        t.start()
        until(lambda: t.path(b, "ben")[0][3] == "delivered", 15, "ben's SMS")
        t.smsc.inject_mo(BEN.lstrip("+"), "TownEM", f"ACK {t.code(b)}")
        until(lambda: t.path(b, "ben")[0][3] == "acknowledged", 15, "ben's acknowledgement")
        [mail] = until(lambda: t.smtp.mails_to("ana@town.example"), 30, "ana's e-mail after the ack timeout")
        link = re.search(r"http://127\.0\.0\.1:\d+/a/\S+", mail.text)
        assert link, mail.text
        with httpx.Client(timeout=10) as client:
            page = client.get(link[0])
            assert page.status_code == 200 and "I received this message" in page.text
            assert [a.matched for a in t.acks() if a.contact_id == t.people["ana"]] == []  # a GET never acks
            thanks = client.post(link[0])
        assert thanks.status_code == 200 and "Thank you" in thanks.text
        until(lambda: t.path(b, "ana")[1][3] == "acknowledged", 10, "ana's acknowledgement by link")
        ana = t.deliveries(b, "ana")
        ben = t.deliveries(b, "ben")
        t.stop()
        assert [(d.step, d.channel_kind) for d in ana] == [(0, "sms"), (1, "apprise")]
        assert ana[1].parent_id == ana[0].id
        assert ana[1].queued_at and ana[0].submitted_at
        assert (ana[1].queued_at - ana[0].submitted_at).total_seconds() >= 6.0
        # Nothing more will follow for either of them: no row is watched by the escalation sweep any more.
        assert all(d.escalate_at is None for d in (*ana, *ben))
        assert len(ben) == 1 and t.smtp.mails_to("ben@town.example") == []
        [link_ack] = [a for a in t.acks() if a.contact_id == t.people["ana"]]
        assert (link_ack.channel, link_ack.matched, link_ack.delivery_id) == ("link", True, ana[1].id)
        acks = broadcast_status(t.ctx, b, details=True).as_dict()["acks"]
        assert acks["acknowledged"] == 2 and acks["ninety_percent_seconds"] is not None
