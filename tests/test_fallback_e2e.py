"""Fallback end to end over real transports: the simulated SMSC refuses or never confirms, and the people
concerned are reached by e-mail (a real SMTP server) and by JSON web hook (a real HTTP server) instead,
exactly once, also across an engine restart."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from alertcast.services.compose import ComposeRequest
from alertcast.services.recipients import Targets
from alertcast.services.send import preview
from alertcast.services.status import broadcast_status, report
from alertcast.sim.smsc import SmscConfig
from alertcast.store.outbox_escalation import escalation_sweep
from tests.fallback_world import FAST_ENGINE, town, until

pytestmark = [
    pytest.mark.timeout(90),
    # Apprise's e-mail plugin imports the deprecated ``imghdr``; see tests/test_channel_apprise.py.
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]

REFUSED = "+1202555099"
"""Numbers the simulated SMSC refuses with ESME_RINVDSTADR (a permanent failure)."""
STANDARD = {"name": "standard", "priorities": ["routine", "elevated", "high", "severe"], "steps": ["sms", "apprise"]}  # fmt: skip
URGENT = {"name": "urgent", "priorities": ["critical"], "steps": [["sms", "apprise"]]}


def refusing() -> SmscConfig:
    return SmscConfig(receipt_delay=0.05, reject_prefixes=(REFUSED,))


def test_a_refused_sms_falls_back_to_email_and_web_hook_once_with_the_path_reported(tmp_path: Path) -> None:
    with town(tmp_path, fallback=[STANDARD], smsc=refusing()) as t:
        t.add("ana", phone=REFUSED + "1", email="ana@town.example")
        t.add("ben", phone=REFUSED + "2", urls=[t.hooks.url("200/ben")])
        t.add("cruz", phone="+12025550144", email="cruz@town.example")
        b = t.send("ana", "ben", "cruz")
        t.start()
        until(
            lambda: t.smtp.mails_to("ana@town.example") and t.hooks.hooks_at("200/ben"), 20, "the fallbacks"
        )
        until(lambda: t.path(b, "cruz")[0][3] == "delivered", 10, "cruz's receipt")
        t.stop()
        [mail] = t.smtp.mails_to("ana@town.example")
        assert "Boil water" in mail.text
        [hook] = t.hooks.hooks_at("200/ben")
        assert "Boil water" in json.dumps(hook.payload)
        assert t.smtp.mails_to("cruz@town.example") == []  # reached by SMS: nothing follows
        assert t.path(b, "ana") == [
            (0, "sms", REFUSED + "1", "failed"),
            (1, "apprise", "ana@town.example", "delivered"),
        ]
        assert [row[3] for row in t.path(b, "cruz")] == ["delivered"]
        rows = {(r["contact_name"], r["step"]): r for r in report(t.ctx, b)}
        sms, mail_row = rows[("ana", 0)], rows[("ana", 1)]
        assert mail_row["parent_id"] == sms["delivery_id"] and "ESME_RINVDSTADR" in (sms["error"] or "")
        fallback = broadcast_status(t.ctx, b, details=True).as_dict()["fallback"]
        assert fallback["policy"] == "standard" and fallback["by_step"][1] == {"delivered": 2}


def test_no_receipt_in_time_falls_back_after_the_wait_not_before(tmp_path: Path) -> None:
    wait = {**STANDARD, "receipt_wait_minutes": 0.025}  # 1.5 s
    slow = SmscConfig(receipt_delay=120.0)  # accepted at once, the receipt never comes during the test
    with town(tmp_path, fallback=[wait], smsc=slow) as t:
        t.add("dia", phone="+12025550155", email="dia@town.example")
        b = t.send("dia")
        t.start()
        until(lambda: t.smtp.mails_to("dia@town.example"), 20, "the e-mail after the receipt wait")
        t.stop()
        sms, mail = t.deliveries(b, "dia")
        assert (sms.state, mail.state, mail.parent_id) == ("submitted", "delivered", sms.id)
        assert sms.submitted_at is not None and mail.queued_at is not None
        assert mail.queued_at - sms.submitted_at >= timedelta(seconds=1.5)


def test_a_restart_between_failure_and_fallback_still_falls_back_exactly_once(tmp_path: Path) -> None:
    with town(tmp_path, fallback=[STANDARD], smsc=refusing()) as t:
        t.add("eli", phone=REFUSED + "3", email="eli@town.example")
        b = t.send("eli")
        normal = t.ctx.config
        # An engine that sweeps only once, at its start: it sends, the SMS fails, and it stops before any
        # fallback is created (as if it died there).
        slow = {**FAST_ENGINE, "escalation_seconds": 3600}
        t.ctx.config = replace(normal, sections={**normal.sections, "engine": slow})
        t.start()
        until(lambda: t.path(b, "eli")[0][3] == "failed", 15, "the refused SMS")
        t.stop()
        assert len(t.path(b, "eli")) == 1 and t.smtp.received == []
        t.ctx.config = normal
        for run in range(2):  # restarted twice: the second run finds nothing more to do
            t.start()
            until(lambda: t.smtp.mails_to("eli@town.example"), 20, "the fallback after the restart")
            if run:
                time.sleep(1.0)  # several sweeps of the second engine (0.2 s apart)
            t.stop()
        assert escalation_sweep(t.ctx.engine).created == 0
        assert len(t.smtp.mails_to("eli@town.example")) == 1
        assert [row[:2] for row in t.path(b, "eli")] == [(0, "sms"), (1, "apprise")]


def test_critical_alerts_go_out_on_every_channel_at_once(tmp_path: Path) -> None:
    with town(tmp_path, fallback=[URGENT, STANDARD]) as t:
        t.add("fay", phone="+12025550166", email="fay@town.example", urls=[t.hooks.url("200/fay")])
        request = ComposeRequest(texts={"en": "Evacuate now."}, targets=Targets(contacts=(str(t.people["fay"]),)), priority="critical")  # fmt: skip
        shown = preview(t.ctx, request)
        assert shown["fallback"]["steps"] == [["sms", "apprise"]]
        assert shown["recipients"]["total"] == 1 and shown["recipients"]["deliveries"] == 3
        critical = t.send("fay", priority="critical", text="Evacuate now.")
        routine = t.send("fay", priority="routine", text="Street sweeping on Monday.")
        t.start()
        until(
            lambda: t.smtp.mails_to("fay@town.example") and t.hooks.hooks_at("200/fay"), 20, "e-mail and hook"
        )
        until(lambda: all(row[3] == "delivered" for row in t.path(critical, "fay")), 10, "every channel")
        until(lambda: t.path(routine, "fay")[0][3] == "delivered", 10, "the routine SMS")
        t.stop()
        assert sorted(row[:2] for row in t.path(critical, "fay")) == [
            (0, "apprise"),
            (0, "apprise"),
            (0, "sms"),
        ]
        assert [row[:2] for row in t.path(routine, "fay")] == [(0, "sms")]  # the standard policy: SMS first
        [mail] = t.smtp.mails_to("fay@town.example")
        assert "Evacuate now" in mail.text


def test_a_drill_falls_back_only_to_drill_routes(tmp_path: Path) -> None:
    record = tmp_path / "drill-mail.jsonl"
    sink = {"name": "mail-exercise", "type": "drill", "kind": "apprise", "record_path": str(record)}
    with town(tmp_path, fallback=[STANDARD], smsc=refusing(), extra_routes=[sink], mail_drill=False) as t:
        t.add("gus", phone=REFUSED + "4", email="gus@town.example")
        b = t.send("gus", drill=True)
        t.start()
        until(
            lambda: len(t.path(b, "gus")) == 2 and t.path(b, "gus")[1][3] == "delivered",
            20,
            "the drill fallback",
        )
        t.stop()
        assert t.smtp.received == []  # the live mail route never carries a drill
        assert [d.route for d in t.deliveries(b, "gus")] == ["operator", "mail-exercise"]
        assert "gus@town.example" in record.read_text(encoding="utf-8")


def test_people_with_no_later_channel_and_delivered_people_are_left_alone(tmp_path: Path) -> None:
    with town(tmp_path, fallback=[STANDARD], smsc=refusing()) as t:
        t.add("hal", phone=REFUSED + "5")  # nothing else to try
        b = t.send("hal")
        host = t.start()
        until(lambda: t.path(b, "hal")[0][3] == "failed", 15, "the refused SMS")
        until(lambda: broadcast_status(t.ctx, b, details=True).fallback.watched == 0, 10, "the sweep")  # type: ignore[union-attr]
        t.stop()
        assert host.summary is not None and host.summary.escalated == 0
        assert len(t.path(b, "hal")) == 1
