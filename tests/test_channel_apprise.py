"""The Apprise channel against real servers on 127.0.0.1: an aiosmtpd SMTP server and an HTTP server taking
JSON web hooks. Every outcome is per recipient, so batches mix good and bad addresses on purpose."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlmodel import Session

from alertcast.channels.apprise_channel import AppriseChannel
from alertcast.channels.apprise_config import (
    AppriseSettings,
    SmtpSettings,
    email_address,
    parse_apprise_settings,
)
from alertcast.channels.apprise_guard import refusal
from alertcast.channels.apprise_outcome import classify
from alertcast.channels.apprise_route import apprise_channel
from alertcast.channels.base import InboundMessage, OutboundMessage, Outcome, Receipt, RouteState, SendResult
from alertcast.config import ConfigError
from alertcast.engine.config import EngineSettings, RouteSettings
from alertcast.engine.dispatcher import Dispatcher
from alertcast.engine.runner import run_dispatcher
from alertcast.store.acks import AckSettings, AckStatus, record_reply
from alertcast.store.db import create_db_engine
from alertcast.store.models import Contact, Delivery
from alertcast.store.outbox import create_broadcast
from alertcast.store.outbox_types import BroadcastSpec, MessageText, Recipient
from tests.http_sink import HttpSink
from tests.smtp_server import SmtpServer

pytestmark = [
    pytest.mark.timeout(60),
    # Apprise's e-mail plugin imports the standard ``imghdr`` module (for PGPy), deprecated since Python
    # 3.11; under ``-W error`` that import fails and Apprise drops mailto:// entirely. Only this warning
    # is ignored, only here.
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]

LOOPBACK = ("127.0.0.0/8",)


class Harness:
    def __init__(self) -> None:
        self.results: list[SendResult] = []
        self.batches: list[int] = []
        self.states: list[RouteState] = []
        self._event = asyncio.Event()

    def on_results(self, channel: str, results: Sequence[SendResult]) -> None:
        self.results += results
        self.batches.append(len(results))
        self._event.set()

    def on_receipts(self, receipts: Sequence[Receipt]) -> None:
        raise AssertionError("the Apprise channel has no receipts")

    def on_inbound(self, messages: Sequence[InboundMessage]) -> None:
        raise AssertionError("the Apprise channel has no inbound messages")

    def on_state(self, channel: str, state: RouteState) -> None:
        self.states.append(state)

    async def wait_for(self, condition: Callable[[], bool], within: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {within:g} s; results so far: {self.results}")
            self._event.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), 0.2)

    def by_id(self) -> dict[int, SendResult]:
        return {r.delivery_id: r for r in self.results}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink(slow_seconds=1.5) as server:
        yield server


def settings_for(server: SmtpServer | None = None, **overrides: object) -> AppriseSettings:
    """Route settings sending e-mail through ``server`` (plain SMTP on loopback); ``overrides`` win."""
    mail = None
    if server is not None:
        mail = SmtpSettings(host="127.0.0.1", port=server.port, sender="alerts@example.org", tls="none")
    values: dict[str, object] = {"smtp": mail, "timeout": 10.0}
    values.update(overrides)
    return AppriseSettings(**values)  # type: ignore[arg-type]


def message(delivery_id: int, address: str, **fields: object) -> OutboundMessage:
    values: dict[str, object] = {
        "text": f"EXERCISE: flood warning {delivery_id}. Reply ACK 7F3K",
        "title": f"Flood warning {delivery_id}",
        "body": f"River levels are rising (message {delivery_id}).\n\nMove to higher ground.",
    }
    values.update(fields)
    return OutboundMessage(delivery_id=delivery_id, address=address, **values)  # type: ignore[arg-type]


async def send_all(channel: AppriseChannel, messages: Sequence[OutboundMessage]) -> dict[int, SendResult]:
    harness = Harness()
    await channel.start(harness)
    try:
        channel.send(messages)
        await harness.wait_for(lambda: len(harness.results) >= len(messages))
    finally:
        await channel.stop()
    return harness.by_id()


def closed_port() -> int:
    """A port nothing listens on: bound by us a moment ago and released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_email_reaches_the_server_with_subject_body_and_recipient(smtp: SmtpServer) -> None:
    channel = AppriseChannel("mail", settings_for(smtp))
    results = await send_all(channel, [message(1, "Ana.Lopez@example.org")])
    assert results[1].outcome is Outcome.DELIVERED, results[1]
    [mail] = smtp.mails_to("Ana.Lopez@example.org")
    assert mail.subject == "Flood warning 1"
    assert "River levels are rising (message 1)." in mail.text
    assert "alerts@example.org" in mail.sender
    assert "alertcast" in str(mail.message["X-Application"])


async def test_smtp_url_template_quotes_the_address(smtp: SmtpServer) -> None:
    template = f"mailto://127.0.0.1:{smtp.port}?mode=insecure&from=alerts@example.org&to={{address}}"
    channel = AppriseChannel("mail", settings_for(None, smtp_url=template))
    results = await send_all(channel, [message(7, "first+tag@example.org")])
    assert results[7].outcome is Outcome.DELIVERED, results[7]
    assert [m.recipients for m in smtp.received] == [("first+tag@example.org",)]


async def test_json_webhook_carries_title_and_body(sink: HttpSink) -> None:
    channel = AppriseChannel("hooks", settings_for(allow_private_networks=_networks(LOOPBACK)))
    results = await send_all(channel, [message(3, sink.url("200/team-a"), body=None)])
    assert results[3].outcome is Outcome.DELIVERED, results[3]
    [hook] = sink.hooks_at("200/team-a")
    assert hook.payload["title"] == "Flood warning 3"
    assert hook.payload["message"] == "EXERCISE: flood warning 3. Reply ACK 7F3K"  # no body: the SMS text


@pytest.mark.parametrize(
    ("path", "outcome", "said"),
    [
        ("500/x", Outcome.RETRY, "HTTP 500"),
        ("404/x", Outcome.FAILED, "HTTP 404"),
        ("401/x", Outcome.FAILED, "HTTP 401"),
    ],
)
async def test_webhook_answers_map_to_retry_or_failed(
    sink: HttpSink, path: str, outcome: Outcome, said: str
) -> None:
    channel = AppriseChannel("hooks", settings_for(allow_private_networks=_networks(LOOPBACK)))
    results = await send_all(channel, [message(5, sink.url(path))])
    assert results[5].outcome is outcome
    assert said in (results[5].error or "")
    assert len(sink.hooks_at(path)) == 1


async def test_unreachable_server_is_temporary(smtp: SmtpServer) -> None:
    port = closed_port()
    dead_mail = SmtpSettings(host="127.0.0.1", port=port, sender="alerts@example.org", tls="none")
    channel = AppriseChannel(
        "mail", settings_for(None, smtp=dead_mail, allow_private_networks=_networks(LOOPBACK))
    )
    results = await send_all(
        channel, [message(1, "a@example.org"), message(2, f"json://127.0.0.1:{port}/hook")]
    )
    assert results[1].outcome is Outcome.RETRY and results[2].outcome is Outcome.RETRY, results
    assert "reach" in (results[1].error or "") and "reach" in (results[2].error or "")


async def test_refused_recipients_fail_or_wait_by_smtp_code(smtp: SmtpServer) -> None:
    channel = AppriseChannel("mail", settings_for(smtp))
    results = await send_all(channel, [message(1, "bad.box@example.org"), message(2, "busy.box@example.org")])
    assert results[1].outcome is Outcome.FAILED and "SMTP 550" in (results[1].error or ""), results[1]
    assert results[2].outcome is Outcome.RETRY and "SMTP 451" in (results[2].error or ""), results[2]
    assert smtp.received == []


async def test_one_batch_of_mixed_addresses_gets_one_result_each(smtp: SmtpServer, sink: HttpSink) -> None:
    settings = settings_for(smtp, allow_private_networks=_networks(LOOPBACK), concurrency=3)
    batch = [
        message(1, "good.one@example.org"),
        message(2, "bad.one@example.org"),
        message(3, sink.url("200/ok")),
        message(4, sink.url("500/down")),
        message(5, sink.url("404/gone")),
        message(6, "not an address"),
        message(7, "bogus://somewhere/x"),
        message(8, "good.two@example.org"),
    ]
    results = await send_all(AppriseChannel("mixed", settings), batch)
    outcomes = {i: r.outcome for i, r in results.items()}
    assert outcomes == {
        1: Outcome.DELIVERED,
        2: Outcome.FAILED,
        3: Outcome.DELIVERED,
        4: Outcome.RETRY,
        5: Outcome.FAILED,
        6: Outcome.FAILED,
        7: Outcome.FAILED,
        8: Outcome.DELIVERED,
    }
    assert sorted(r for m in smtp.received for r in m.recipients) == [
        "good.one@example.org",
        "good.two@example.org",
    ]
    assert "bogus://" in (results[7].error or "") and "neither an e-mail" in (results[6].error or "")


async def test_contact_urls_cannot_reach_private_addresses_by_default(
    sink: HttpSink, smtp: SmtpServer
) -> None:
    channel = AppriseChannel("hooks", settings_for(None))
    batch = [
        message(1, sink.url("200/internal")),
        message(2, f"json://localhost:{sink.port}/200/by-name"),
        message(3, f"mailto://127.0.0.1:{smtp.port}?mode=insecure&from=x@example.org&to=y@example.org"),
        message(4, "mailtos://user:pw@example.org?smtp=127.0.0.1&to=y@example.org"),
    ]
    results = await send_all(channel, batch)
    assert all(r.outcome is Outcome.FAILED for r in results.values()), results
    assert all("public addresses" in (r.error or "") for r in results.values()), results
    assert sink.hooks == [] and smtp.received == []


def test_destination_rules() -> None:
    settings = AppriseSettings()
    assert refusal("ntfy://alerts-topic", settings) is None  # public ntfy.sh; the topic is never looked up
    assert refusal("tgram://123456:token/-100200", settings) is None
    assert "not allowed" in (refusal("sns://key/secret/us-east-1/+15551234567", settings) or "")
    assert "public addresses" in (refusal("ntfy://10.1.2.3/topic", settings) or "")
    assert "public addresses" in (refusal("json://[::1]:8080/x", settings) or "")
    assert "public addresses" in (refusal("json://169.254.169.254/latest", settings) or "")
    assert "public addresses" in (refusal("xml://0x7f.1/x", settings) or "")
    narrow = replace(settings, allowed_schemes=frozenset({"ntfy"}))
    assert "not allowed" in (refusal("json://203.0.113.9/x", narrow) or "")


def test_addresses_from_contacts_cannot_add_url_parameters() -> None:
    assert email_address("ana@example.org") == "ana@example.org"
    assert email_address("mailto:ana@example.org") == "ana@example.org"
    for hostile in (
        "x@example.org&smtp=10.0.0.1",
        "x@example.org?to=y@evil.example",
        "a@b",
        "x y@example.org",
    ):
        assert email_address(hostile) is None, hostile
    smtp = SmtpSettings(
        host="mail.example.org", sender="alerts@example.org", user="al erts", password="p@ss/wd&x"
    )
    url = smtp.url_for("first+tag@example.org")
    assert "p%40ss%2Fwd%26x" in url and "to=first%2Btag@example.org" in url and "al%20erts" in url


async def test_drills_only_leave_through_a_drill_route(smtp: SmtpServer) -> None:
    drill = message(1, "drill.target@example.org", drill=True)
    live_route = AppriseChannel("mail", settings_for(smtp))
    results = await send_all(live_route, [drill])
    assert results[1].outcome is Outcome.REQUEUE and "not marked for drills" in (results[1].error or "")
    assert smtp.received == []
    drill_route = AppriseChannel("mail-drill", settings_for(smtp), drill_route=True)
    results = await send_all(drill_route, [drill])
    assert results[1].outcome is Outcome.DELIVERED
    assert len(smtp.mails_to("drill.target@example.org")) == 1


async def test_stop_hands_back_what_is_unfinished(sink: HttpSink) -> None:
    settings = settings_for(allow_private_networks=_networks(LOOPBACK), concurrency=1, stop_grace=0.2)
    channel = AppriseChannel("hooks", settings)
    harness = Harness()
    await channel.start(harness)
    assert channel.capacity() == 1
    channel.send([message(1, sink.url("slow/a")), message(2, sink.url("200/b"))])
    await harness.wait_for(lambda: len(sink.hooks_at("slow")) == 1, within=10)
    await channel.stop()
    results = harness.by_id()
    assert results[1].outcome is Outcome.REQUEUE and results[1].possible_duplicate  # the server had it
    assert results[2].outcome is Outcome.REQUEUE and not results[2].possible_duplicate  # never started
    assert channel.capacity() == 0 and not channel.state.up
    assert sink.hooks_at("200/b") == []


async def test_results_of_a_burst_come_back_in_few_batches(sink: HttpSink) -> None:
    settings = settings_for(allow_private_networks=_networks(LOOPBACK), concurrency=8)
    channel = AppriseChannel("hooks", settings)
    harness = Harness()
    await channel.start(harness)
    try:
        assert channel.capacity() == 8
        channel.send([message(i, "nonsense") for i in range(1, 9)])  # fail at once, on 8 threads
        await harness.wait_for(lambda: len(harness.results) == 8)
        assert len(harness.batches) < 8
    finally:
        await channel.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_smtp_login_refused_is_retried_not_failed() -> None:
    # aiosmtpd warns (rightly) that AUTH without TLS is unsafe; this local server has no certificate.
    with SmtpServer(login=("alerts", "right")) as server:
        wrong = SmtpSettings(
            host="127.0.0.1",
            port=server.port,
            sender="alerts@example.org",
            user="alerts",
            password="wrong",
            tls="none",
        )
        right = replace(wrong, password="right")
        refused = await send_all(
            AppriseChannel("mail", settings_for(None, smtp=wrong)), [message(1, "a@example.org")]
        )
        accepted = await send_all(
            AppriseChannel("mail", settings_for(None, smtp=right)), [message(2, "b@example.org")]
        )
        assert refused[1].outcome is Outcome.RETRY and "credentials" in (refused[1].error or ""), refused[1]
        assert accepted[2].outcome is Outcome.DELIVERED, accepted[2]
        assert [m.recipients for m in server.received] == [("b@example.org",)]


def test_route_settings_are_checked_with_the_key_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERTCAST_TEST_SMTP_PASSWORD", raising=False)
    cases = [
        ({"smtp_url": "mailtos://x@y"}, "routes.mail.smtp_url: must contain {address}"),
        ({"smtp": {"host": "h", "from": "a@example.org", "port": 0}}, "routes.mail.smtp.port"),
        ({"smtp": {"host": "h", "from": "nobody"}}, "routes.mail.smtp.from"),
        ({"smtp": {"host": "h", "from": "a@example.org", "tls": "maybe"}}, "routes.mail.smtp.tls"),
        ({"smtp_url": "mailtos://u:{password}@h?to={address}"}, "routes.mail.smtp_password"),
        (
            {
                "smtp_url": "mailtos://u:{password}@h?to={address}",
                "smtp_password": {"env": "ALERTCAST_TEST_SMTP_PASSWORD"},
            },
            "ALERTCAST_TEST_SMTP_PASSWORD is not set",
        ),
        ({"allow_private_networks": ["10.0.0.0/33"]}, "routes.mail.allow_private_networks"),
        ({"concurency": 3}, "unknown key(s) concurency"),
        ({"concurrency": 0}, "routes.mail.concurrency"),
    ]
    for raw, expected in cases:
        with pytest.raises(ConfigError) as caught:
            apprise_channel("mail", raw)
        assert expected in str(caught.value), (raw, str(caught.value))
    monkeypatch.setenv("ALERTCAST_TEST_SMTP_PASSWORD", "s3cret/&")
    built = apprise_channel(
        "mail",
        {
            "smtp_url": "mailtos://u:{password}@h?to={address}",
            "smtp_password": {"env": "ALERTCAST_TEST_SMTP_PASSWORD"},
        },
    )
    assert built.settings.email_url("a@example.org") == "mailtos://u:s3cret%2F%26@h?to=a@example.org"
    assert "s3cret" not in repr(built.settings)


def test_failure_classification_from_apprise_log_lines() -> None:
    assert classify("SUCCESS", []) == (Outcome.DELIVERED, "")
    assert classify("TIMEOUT", [])[0] is Outcome.RETRY
    assert (
        classify("FAILURE", [("WARNING", "Failed to send JSON POST notification: Too many., error=429.")])[0]
        is Outcome.RETRY
    )
    assert (
        classify("FAILURE", [("WARNING", "Failed to send Telegram notification: Unauthorized., error=401.")])[
            0
        ]
        is Outcome.FAILED
    )
    refused = [
        ("DEBUG", "Socket Exception: {'x@y.org': (552, b'5.2.2 mailbox full')}"),
        ("WARNING", 'Sending email to "x@y.org" failed.'),
    ]
    assert classify("FAILURE", refused) == (Outcome.FAILED, "SMTP 552 5.2.2 mailbox full")
    assert classify("FAILURE", [("WARNING", "something new went wrong")]) == (
        Outcome.RETRY,
        "something new went wrong",
    )


def _networks(cidrs: Sequence[str]) -> tuple:  # type: ignore[type-arg]
    return parse_apprise_settings({"allow_private_networks": list(cidrs)}).allow_private_networks


async def test_the_engine_sends_through_the_channel_and_a_reply_is_matched(
    smtp: SmtpServer, db_url: str
) -> None:
    engine = create_db_engine(db_url)
    try:
        with Session(engine) as session:
            people = [
                Contact(name="ana", email="ana@example.org"),
                Contact(name="ben", email="bad.ben@example.org"),
            ]
            session.add_all(people)
            session.flush()
            spec = BroadcastSpec(
                operator="tester",
                title="Water main break",
                messages={
                    "en": MessageText(
                        "Water off until 18:00. Reply ACK 7F3K", "Water main break", "Long form"
                    )
                },
                recipients=[Recipient(p.id, p.email or "", "apprise") for p in people],
                ack_requested=True,
                ack_code="7F3K",
            )
            broadcast_id = create_broadcast(session, spec)
            session.commit()
        mail_route = RouteSettings(name="mail", type="apprise", kinds=("apprise",), drill=False, live=True)
        dispatcher = Dispatcher(
            engine, EngineSettings(), [(mail_route, AppriseChannel("mail", settings_for(smtp)))]
        )
        summary = await run_dispatcher(dispatcher, until_idle=True, idle_check_seconds=0.05)
        assert (summary.delivered, summary.failed) == (1, 1)
        with Session(engine) as session:
            states = {d.address: (d.state, d.error) for d in session.execute(select(Delivery)).scalars()}
        assert states["ana@example.org"] == ("delivered", None)
        assert states["bad.ben@example.org"][0] == "failed" and "SMTP 550" in (
            states["bad.ben@example.org"][1] or ""
        )
        [mail] = smtp.received
        assert mail.subject == "Water main break" and "Long form" in mail.text
        outcome = record_reply(engine, "mail-in", "Ana@Example.org", "ack 7f3k", config=AckSettings())
        assert outcome.status is AckStatus.MATCHED and outcome.broadcast_id == broadcast_id
    finally:
        engine.dispose()


async def test_apprise_detail_stays_out_of_the_application_log(smtp: SmtpServer) -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keeper = Keep(level=logging.NOTSET)  # like basicConfig's handler: takes whatever reaches it
    logging.getLogger().addHandler(keeper)
    try:
        results = await send_all(
            AppriseChannel("mail", settings_for(smtp)), [message(1, "bad.x@example.org")]
        )
    finally:
        logging.getLogger().removeHandler(keeper)
    assert "SMTP 550" in (results[1].error or "")  # the DEBUG detail reached the classification...
    quiet = [r for r in seen if r.name == "apprise" and r.levelno < logging.WARNING]
    assert quiet == [], [r.getMessage() for r in quiet]  # ...and nothing below WARNING reached the root
    assert any(r.name == "apprise" and r.levelno == logging.WARNING for r in seen)  # warnings still do


async def test_a_server_that_never_answers_times_out_as_temporary() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept_and_say_nothing() -> None:
        while not done.is_set():
            with suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    acceptor = threading.Thread(target=accept_and_say_nothing, name="test-silent-server")
    acceptor.start()
    silent = SmtpSettings(
        host="127.0.0.1", port=listener.getsockname()[1], sender="alerts@example.org", tls="none"
    )
    try:
        channel = AppriseChannel("mail", settings_for(None, smtp=silent, timeout=1.0))
        results = await send_all(channel, [message(1, "a@example.org")])
    finally:
        done.set()
        acceptor.join(10)
        for connection in accepted:  # the abandoned SMTP client reads EOF and closes its own socket
            connection.close()
        listener.close()
    assert results[1].outcome is Outcome.RETRY and "timed out" in (results[1].error or ""), results[1]
