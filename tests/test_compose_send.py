"""Preview and send over the sample address book and sample alerts, on a real SQLite store."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from alertcast.cli.root import cli
from alertcast.config import Config
from alertcast.core.sms import sms_stats
from alertcast.services.compose import ComposeError, ComposeRequest, compose
from alertcast.services.contacts import import_contacts
from alertcast.services.context import AppContext
from alertcast.services.ingest import ingest
from alertcast.services.recipients import TargetError, Targets
from alertcast.services.send import preview, send
from alertcast.store.models import BroadcastMessage, Contact, Delivery
from tests.conftest import REPO


@pytest.fixture
def town(ctx: AppContext) -> AppContext:
    import_contacts(ctx, REPO / "contacts" / "sample-contacts.csv")
    assert ingest(ctx, [str(REPO / "sample_alerts")]).ok
    return ctx


def alert_id(ctx: AppContext, identifier: str) -> int:
    for record in ingest(ctx, [str(REPO / "sample_alerts")], dry_run=True).records:
        if record.identifier == identifier:
            return record.alert_id or 0
    raise AssertionError(identifier)


def test_area_preview_of_an_extreme_alert_fits_one_segment_per_language(town: AppContext) -> None:
    chlorine = alert_id(town, "VB-EM-2026-0004")
    p = preview(town, ComposeRequest(alert_id=chlorine, targets=Targets(area_of=(chlorine,))))
    assert p["priority"] == "critical" and not p["drill"] and p["ack_code"] is None
    languages = {m["language"].lower() for m in p["messages"]}
    assert languages == {"en-us", "es-us"}
    for m in p["messages"]:
        assert m["segments"] == 1 and m["fits"], m
        assert ("Hasta " in m["sms"]) == m["language"].lower().startswith("es")
        assert sms_stats(m["sms"]).segments == 1
        assert "..." not in m["sms"].split()[0]
    assert sum(m["recipients"] for m in p["messages"]) == p["recipients"]["total"] > 0
    # Exactly the people within 2 km of the plant or tagged with the alert's zone (SL-07), checked
    # independently with a flat-earth distance, which is accurate to metres at this scale.
    with town.session() as session:
        composition = compose(
            session, town.config, ComposeRequest(alert_id=chlorine, targets=Targets(area_of=(chlorine,)))
        )
        people = session.execute(
            select(Contact.id, Contact.lat, Contact.lon, Contact.geocodes, Contact.opted_out)
        ).all()
    chosen = {r.contact_id for r in composition.recipients.recipients}
    km = 111.2
    inside = {
        cid
        for cid, lat, lon, codes, _opted in people
        if (lat is not None and ((lat - 32.3052) * km) ** 2 + ((lon + 106.7614) * km * 0.8457) ** 2 <= 4.0)
        or "VB-ZONE=SL-07" in codes
    }
    # Critical: opted-out contacts are included (contacts.emergency_reaches_opted_out defaults to true).
    assert chosen == inside
    assert not any(lat is not None and lat > 32.4 and cid in chosen for cid, lat, *_ in people)


def test_composed_drill_marks_every_message_and_skips_opted_out(town: AppContext) -> None:
    request = ComposeRequest(
        texts={"en": "Boil water before drinking.", "es": "Hierva el agua antes de beberla."},
        targets=Targets(groups=("residents",)),
        drill=True,
        priority="elevated",
    )
    p = preview(town, request)
    assert p["ack_code"] and p["title"].startswith("EXERCISE: ")
    for m in p["messages"]:
        assert m["sms"].startswith("EXERCISE: ") and m["title"].startswith("EXERCISE: ")
        assert m["body"].startswith("EXERCISE: ")
        assert f"ACK {p['ack_code']}" in m["sms"]
    spanish = next(m for m in p["messages"] if m["language"].startswith("es"))
    assert "Hierva el agua" in spanish["sms"] and f"Responda ACK {p['ack_code']}" in spanish["sms"]
    assert p["recipients"]["opted_out_skipped"] > 0
    # A critical broadcast still reaches opted-out contacts (the default safety choice).
    critical = preview(town, replace(request, priority="critical"))
    assert critical["recipients"]["opted_out_skipped"] == 0
    assert critical["recipients"]["total"] == p["recipients"]["total"] + p["recipients"]["opted_out_skipped"]


def test_send_writes_the_broadcast_with_every_recipient_in_their_language(town: AppContext) -> None:
    request = ComposeRequest(
        texts={"en": "Shelter now.", "es": "Refúgiese ahora."}, targets=Targets(groups=("fire", "ems"))
    )
    sent = send(town, request)
    with town.session() as session:
        deliveries = list(
            session.execute(select(Delivery).where(Delivery.broadcast_id == sent.broadcast_id)).scalars()
        )
        messages = {
            m.language: m.sms_text
            for m in session.execute(
                select(BroadcastMessage).where(BroadcastMessage.broadcast_id == sent.broadcast_id)
            ).scalars()
        }
    assert len(deliveries) == len(sent.composition.recipients.recipients) > 30
    assert {d.state for d in deliveries} == {"queued"}
    assert {d.language for d in deliveries} == set(messages)
    assert len({d.contact_id for d in deliveries}) == len(deliveries)  # fire and ems overlap is deduplicated
    assert all(d.address.startswith("+1") for d in deliveries if d.channel_kind == "sms")


@pytest.mark.parametrize(
    ("identifier", "needle"),
    [
        ("VB-EM-2026-0001", "cancelled"),
        ("VB-EM-2026-0007", "expired"),
    ],
)
def test_alerts_that_must_not_go_out_are_refused(town: AppContext, identifier: str, needle: str) -> None:
    aid = alert_id(town, identifier)
    with pytest.raises(ComposeError, match=needle):
        send(town, ComposeRequest(alert_id=aid, targets=Targets(groups=("fire",))))


def test_an_exercise_alert_is_always_a_drill(town: AppContext) -> None:
    aid = alert_id(town, "VB-EX-2026-0005")
    p = preview(town, ComposeRequest(alert_id=aid, targets=Targets(groups=("fire",))))
    assert p["drill"] and all(m["sms"].startswith("EXERCISE: ") for m in p["messages"])
    assert any("Exercise" in w for w in p["warnings"])


def test_bad_requests_name_the_problem(town: AppContext) -> None:
    with pytest.raises(TargetError, match="no group named 'nobody'"):
        preview(town, ComposeRequest(texts={"en": "x"}, targets=Targets(groups=("nobody",))))
    with pytest.raises(ComposeError, match="no recipients"):
        preview(town, ComposeRequest(texts={"en": "x"}))
    with pytest.raises(ComposeError, match="either a text or an alert"):
        preview(town, ComposeRequest(targets=Targets(groups=("fire",))))
    with pytest.raises(ComposeError, match="no alert with id 999"):
        preview(town, ComposeRequest(alert_id=999, targets=Targets(groups=("fire",))))


def test_composed_messages_are_signed_by_the_configured_agency_never_the_operator(town: AppContext) -> None:
    town.config = replace(town.config, sections={"compose": {"sender_name": "Valle Brisa EM"}})
    p = preview(town, ComposeRequest(texts={"en": "Roads closed."}, targets=Targets(groups=("fire",))))
    assert all("Valle Brisa EM" in m["sms"] and "tester" not in m["sms"] for m in p["messages"])
    town.config = Config(db_url=town.config.db_url, operator="tester")
    p = preview(town, ComposeRequest(texts={"en": "Roads closed."}, targets=Targets(groups=("fire",))))
    assert all("tester" not in m["sms"] for m in p["messages"])


def test_cli_preview_json_and_send(town: AppContext) -> None:
    runner = CliRunner()
    url = town.config.db_url
    result = runner.invoke(cli, ["--db", url, "preview", "--text", "Test", "--group", "schools", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recipients"]["total"] > 0
    result = runner.invoke(cli, ["--db", url, "send", "--text", "Test", "--group", "schools"])
    assert result.exit_code == 0 and result.stdout.strip().splitlines()[-1].isdigit()
    result = runner.invoke(cli, ["--db", url, "send", "--text", "Test", "--group", "nobody"])
    assert result.exit_code == 1 and "no group named 'nobody'" in result.stderr


def test_send_wait_runs_the_engine_until_done_or_says_why_it_cannot(town: AppContext) -> None:
    runner = CliRunner()
    url = town.config.db_url
    result = runner.invoke(
        cli, ["--db", url, "send", "--text", "Drill", "--group", "fire", "--drill", "--wait", "--json"]
    )
    assert result.exit_code == 0, result.output
    waited = json.loads(result.stdout)["wait"]
    assert waited["finished"] and waited["states"] == {"delivered": 18}
    # A live broadcast with no live route configured cannot move: --wait says so at once, exit 1.
    result = runner.invoke(
        cli, ["--db", url, "send", "--text", "Live", "--group", "fire", "--wait", "--wait-timeout", "60"]
    )
    assert result.exit_code == 1
    assert "no live route for kind sms" in result.stderr
