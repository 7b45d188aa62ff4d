"""The SMPP channel against the simulator over real TCP on 127.0.0.1, and its pure parts on their own.

The harness plays the engine: it sends as capacity allows, resends what comes back REQUEUE and records
every event in arrival order, so tests can check both outcomes and ordering (a result before its receipt).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import ssl
import subprocess
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.smpp

from alertcast.channels.base import InboundMessage, OutboundMessage, Outcome, Receipt, RouteState, SendResult
from alertcast.channels.smpp import SmppBindConfig, SmppChannel
from alertcast.channels.smpp_fastpath import (
    DeliverSm,
    Unusual,
    decode_deliver_sm,
    encode_submit_sm,
    submit_sm_resp_message_id,
)
from alertcast.channels.smpp_outgoing import prepare
from alertcast.channels.smpp_rate import AdaptiveRate
from alertcast.channels.smpp_receipts import RawReceipt, ReceiptMatcher, message_id_forms, parse_receipt
from alertcast.channels.smpp_wire import (
    PERMANENT,
    absolute_time,
    describe_status,
    destination_address,
    outcome_for_status,
)
from alertcast.core.sms import plan_sms
from alertcast.sim.smsc import SmscConfig, SmscSimulator

pytestmark = pytest.mark.timeout(60)


class Harness:
    """ChannelEvents for tests: keeps everything, in order, and wakes waiters on every event."""

    def __init__(self) -> None:
        self.results: list[SendResult] = []
        self.receipts: list[Receipt] = []
        self.inbound: list[InboundMessage] = []
        self.states: list[RouteState] = []
        self.log: list[tuple[str, Any]] = []
        self._event = asyncio.Event()

    def on_results(self, channel: str, results: Sequence[SendResult]) -> None:
        self.results += results
        self.log += [("result", r) for r in results]
        self._event.set()

    def on_receipts(self, receipts: Sequence[Receipt]) -> None:
        self.receipts += receipts
        self.log += [("receipt", r) for r in receipts]
        self._event.set()

    def on_inbound(self, messages: Sequence[InboundMessage]) -> None:
        self.inbound += messages
        self._event.set()

    def on_state(self, channel: str, state: RouteState) -> None:
        self.states.append(state)
        self._event.set()

    async def next_event(self, within: float = 0.1) -> None:
        """Return at the next event, or after ``within`` seconds (capacity may change without one)."""
        self._event.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), within)

    async def wait_for(self, condition: Callable[[], bool], what: str, within: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {within:g} s waiting for {what}")
            await self.next_event()


async def deliver_all(
    channel: SmppChannel, harness: Harness, messages: Sequence[OutboundMessage], within: float = 30.0
) -> dict[int, SendResult]:
    """Feed ``messages`` as capacity allows, resending REQUEUEs as the engine would; final results by id."""
    by_id = {m.delivery_id: m for m in messages}
    pending = deque(messages)
    final: dict[int, SendResult] = {}
    seen = len(harness.results)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(final) < len(messages):
        for result in harness.results[seen:]:
            if result.outcome is Outcome.REQUEUE:
                pending.append(by_id[result.delivery_id])
            else:
                final[result.delivery_id] = result
        seen = len(harness.results)
        room = min(channel.capacity(), len(pending))
        if room:
            channel.send([pending.popleft() for _ in range(room)])
        if loop.time() > deadline:
            raise AssertionError(f"{len(final)} of {len(messages)} finished in {within:g} s; {channel.state}")
        await harness.next_event()
    return final


@asynccontextmanager
async def route(
    sim_config: SmscConfig, *binds: dict[str, Any], **bind_defaults: Any
) -> AsyncIterator[tuple[SmscSimulator, SmppChannel, Harness]]:
    """A simulator, and a started channel with one bind per dict (one transceiver when none given)."""
    async with SmscSimulator(sim_config) as sim:
        settings = [dict(bind_defaults, **b) for b in binds] or [bind_defaults]
        configs = [
            SmppBindConfig(
                **{
                    "host": "127.0.0.1",
                    "port": sim.port,
                    "system_id": "alertcast",
                    "password": "secret",
                    "max_rate": 100_000.0,
                    **s,
                }
            )
            for s in settings
        ]
        channel, harness = SmppChannel("operator", configs), Harness()
        await channel.start(harness)
        try:
            yield sim, channel, harness
        finally:
            await channel.stop()


def numbered(
    count: int, text: str = "Flood warning for your area, message {n}", start: int = 0
) -> list[OutboundMessage]:
    return [OutboundMessage(n, f"+1555{n:07d}", text.format(n=n)) for n in range(start, start + count)]


def receipts_by_delivery(harness: Harness, final: dict[int, SendResult]) -> dict[int, Receipt]:
    """Each receipt tied to the delivery whose provider id it lists first; fails on strays or doubles."""
    by_provider = {r.provider_id: r.delivery_id for r in final.values()}
    matched: dict[int, Receipt] = {}
    for receipt in harness.receipts:
        delivery = by_provider.get(receipt.provider_ids[0])
        assert delivery is not None, f"receipt matches no delivery: {receipt}"
        assert delivery not in matched, f"two receipts for delivery {delivery}"
        matched[delivery] = receipt
    return matched


# -- against the simulator -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "id_format", "receipt_format", "tlvs"),
    [(2000, "hex", "same", True), (2000, "hex", "decimal", True), (300, "decimal", "hex", False)],
)
async def test_every_message_submitted_and_every_receipt_matched(
    count: int, id_format: str, receipt_format: str, tlvs: bool
) -> None:
    config = SmscConfig(message_id_format=id_format, receipt_id_format=receipt_format, receipt_tlvs=tlvs)  # type: ignore[arg-type]
    async with route(config) as (sim, channel, harness):
        final = await deliver_all(channel, harness, numbered(count))
        assert Counter(r.outcome for r in final.values()) == {Outcome.SUBMITTED: count}
        assert len({r.provider_id for r in final.values()}) == count
        await harness.wait_for(lambda: len(harness.receipts) >= count, f"{count} receipts")
        matched = receipts_by_delivery(harness, final)
        assert len(matched) == count and all(r.delivered and r.status == "DELIVRD" for r in matched.values())
        assert sim.stats.accepted == count and sim.stats.duplicates == 0
        assert channel.stats.submitted == count and channel.stats.receipts == count


async def test_a_receipt_that_overtakes_its_response_is_passed_on_after_the_result() -> None:
    config = SmscConfig(receipts_before_response=True, receipt_id_format="decimal")
    async with route(config) as (_sim, channel, harness):
        final = await deliver_all(channel, harness, numbered(200))
        await harness.wait_for(lambda: len(harness.receipts) >= 200, "200 receipts")
        assert len(receipts_by_delivery(harness, final)) == 200
        reported: set[str | None] = set()
        for kind, item in harness.log:
            if kind == "result":
                reported.add(item.provider_id)
            else:
                assert item.provider_ids[0] in reported, "a receipt reached the engine before its result"


async def test_texts_arrive_whole_in_gsm7_and_ucs2_with_one_receipt_per_message() -> None:
    texts = {
        "+15550001": "Shelter: {North Hall} [gym] ~ €2 bus | ^ \\ " * 8,  # GSM-7 extension characters
        "+15550002": "Évacuez 🚨 maintenant 👉🏽 école ✅ " * 6,  # UCS-2 with surrogate pairs
        "+15550003": "x" * 160,  # exactly one SMS
        "+15550004": "y" * 161,  # just two
        "+15550005": "Ça va? 😀",  # short UCS-2
        "+4477000001": "A long message to a phone that is switched off. " * 5,  # undeliverable
    }
    messages = [OutboundMessage(n, address, text) for n, (address, text) in enumerate(texts.items())]
    async with route(SmscConfig(undeliverable_prefixes=("+4477",))) as (sim, channel, harness):
        final = await deliver_all(channel, harness, messages)
        await harness.wait_for(lambda: len(harness.receipts) >= len(texts), "one receipt per message")
        await asyncio.sleep(0.2)  # part receipts trailing a merged one would show up now
        assert sim.stats.messages == {address.lstrip("+"): [text] for address, text in texts.items()}
        for message in messages:
            result = final[message.delivery_id]
            assert result.outcome is Outcome.SUBMITTED
            assert result.parts == plan_sms(message.text).segments
        matched = receipts_by_delivery(harness, final)
        assert len(harness.receipts) == len(texts)
        assert [m.delivery_id for m in messages if not matched[m.delivery_id].delivered] == [5]
        assert matched[5].status == "UNDELIV"


async def test_throttling_respected_without_a_storm() -> None:
    async with route(SmscConfig(throughput=200.0), max_rate=200.0) as (sim, channel, harness):
        final = await deliver_all(channel, harness, numbered(400))
        assert all(r.outcome is Outcome.SUBMITTED for r in final.values())
        assert sim.stats.throttled <= 0.03 * sim.stats.submits, sim.stats.to_dict()


async def test_a_route_configured_above_the_smsc_cap_backs_off() -> None:
    async with route(SmscConfig(throughput=100.0), max_rate=800.0) as (sim, channel, harness):
        final = await deliver_all(channel, harness, numbered(250))
        assert all(r.outcome is Outcome.SUBMITTED for r in final.values())
        # Unpaced, a window of 50 against a 100/s cap draws several refusals per accepted submit.
        assert sim.stats.throttled <= 0.20 * sim.stats.accepted, sim.stats.to_dict()  # measured: about 3 %
        assert channel.stats.extra["throttled"] == sim.stats.throttled


async def test_five_disconnects_lose_nothing_and_duplicate_at_most_a_window_each() -> None:
    window = 50
    config = SmscConfig(disconnect_every=350, disconnect_limit=5)
    async with route(config, window=window) as (sim, channel, harness):
        messages = numbered(2000)
        final = await deliver_all(channel, harness, messages)
        assert all(r.outcome is Outcome.SUBMITTED for r in final.values())
        assert sim.stats.disconnects == 5 and channel.stats.extra["reconnects"] == 5
        assert sim.stats.unique_destinations == 2000
        assert all(texts[0] == messages[int(d[4:])].text for d, texts in sim.stats.messages.items())
        assert 5 <= sim.stats.duplicates <= 5 * window
        # A duplicate never happens behind the engine's back: its delivery was flagged possible_duplicate.
        flagged = {
            r.delivery_id for r in harness.results if r.outcome is Outcome.REQUEUE and r.possible_duplicate
        }
        duplicated = {int(d[4:]) for d, texts in sim.stats.messages.items() if len(texts) > 1}
        assert duplicated and duplicated <= flagged


async def test_wrong_password_marks_the_route_down_with_the_reason() -> None:
    async with route(SmscConfig(), password="wrong") as (_sim, channel, harness):
        await harness.wait_for(
            lambda: "ESME_RINVPASWD" in channel.state.reason, "route down for the password"
        )
        assert not channel.state.up and channel.capacity() == 0
        assert channel.state.reason.startswith("bind refused: ESME_RINVPASWD (0x0E): Invalid Password")
        assert harness.states[-1] == channel.state
        channel.send(numbered(1))
        await harness.wait_for(lambda: len(harness.results) == 1, "the message handed back")
        assert harness.results[0].outcome is Outcome.REQUEUE and "route down" in (
            harness.results[0].error or ""
        )


async def test_messages_from_phones_become_inbound_messages() -> None:
    long_reply = "We are at the community centre, all four of us, and safe. Thank you. " * 3
    async with route(SmscConfig()) as (sim, channel, harness):
        await harness.wait_for(lambda: channel.state.up, "bind")
        sim.inject_mo("+15557654321", "1234", "OK 👍 safe")
        sim.inject_mo("+15557654322", "1234", long_reply)
        await harness.wait_for(lambda: len(harness.inbound) == 2, "two inbound messages")
        got = {m.sender: (m.text, m.recipient, m.channel) for m in harness.inbound}
        assert got == {
            "+15557654321": ("OK 👍 safe", "+1234", "operator"),
            "+15557654322": (long_reply, "+1234", "operator"),
        }


async def test_binds_share_the_load_and_a_receiver_link_carries_receipts() -> None:
    binds = ({"mode": "transceiver", "window": 20}, {"mode": "transmitter+receiver", "window": 20})
    async with route(SmscConfig(), *binds) as (sim, channel, harness):
        final = await deliver_all(channel, harness, numbered(600))
        assert all(r.outcome is Outcome.SUBMITTED for r in final.values())
        await harness.wait_for(lambda: len(harness.receipts) >= 600, "600 receipts")
        assert len(receipts_by_delivery(harness, final)) == 600
        senders = sorted((s.mode, s.accepted) for s in sim.sessions)
        assert [mode for mode, _ in senders] == ["rx", "trx", "tx"]
        assert all(accepted > 0 for mode, accepted in senders if mode != "rx")


async def test_errors_follow_the_permanent_and_temporary_table() -> None:
    soon_past = datetime.now(UTC) - timedelta(seconds=1)
    messages = [
        *numbered(40),
        OutboundMessage(100, "+19990000001", "to a number that does not exist"),
        OutboundMessage(101, "not a number", "x"),
        OutboundMessage(102, "+15550000102", "too late", expires_at=soon_past),
    ]
    async with route(SmscConfig(reject_prefixes=("+1999",), syserr_fraction=0.5, seed=3)) as (
        sim,
        channel,
        harness,
    ):
        final = await deliver_all(channel, harness, messages)
        assert final[100].outcome is Outcome.FAILED and final[100].error == describe_status(0x0B)
        assert final[101].outcome is Outcome.FAILED and "not a phone number" in (final[101].error or "")
        assert final[102].outcome is Outcome.FAILED and "expired" in (final[102].error or "")
        retried = [r for r in final.values() if r.outcome is Outcome.RETRY]
        assert len(retried) == sim.stats.rejected["ESME_RSYSERR"] > 0
        assert {r.error for r in retried} == {"ESME_RSYSERR (0x08): System Error"}


async def test_urgent_messages_overtake_held_ones_and_stop_hands_back_the_rest() -> None:
    config = SmscConfig(throughput=5.0, throughput_burst=1.0)
    async with route(config, max_rate=5.0, burst=1.0) as (_sim, channel, harness):
        await harness.wait_for(lambda: channel.state.up, "bind")
        channel.send(numbered(20))
        await harness.wait_for(lambda: len(harness.results) >= 1, "a first result")
        channel.send([OutboundMessage(99, "+15550000099", "EXTREME: tsunami, go to high ground", priority=4)])
        await harness.wait_for(lambda: any(r.delivery_id == 99 for r in harness.results), "the urgent one")
    submitted = [r.delivery_id for r in harness.results if r.outcome is Outcome.SUBMITTED]
    assert submitted.index(99) <= 3  # at most what was in flight or due as it arrived went before it
    outcomes = Counter(r.delivery_id for r in harness.results)
    assert set(outcomes) == {*range(20), 99} and set(outcomes.values()) == {1}
    requeued = [r for r in harness.results if r.outcome is Outcome.REQUEUE]
    assert len(requeued) >= 10 and not any(r.possible_duplicate for r in requeued)
    assert {r.error for r in requeued} == {"channel stopping"}
    assert harness.states[-1] == RouteState(False, "stopped")


async def test_a_route_whose_smsc_is_down_comes_up_when_it_appears() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel, harness = (
        SmppChannel("operator", [SmppBindConfig("127.0.0.1", port, "alertcast", "secret")]),
        Harness(),
    )
    await channel.start(harness)
    try:
        await harness.wait_for(
            lambda: "cannot connect to alertcast@127.0.0.1" in channel.state.reason, "refusal"
        )
        async with SmscSimulator(SmscConfig(port=port)):
            await harness.wait_for(lambda: channel.state.up, "a bind once the SMSC listens", within=10)
            final = await deliver_all(channel, harness, numbered(10))
            assert all(r.outcome is Outcome.SUBMITTED for r in final.values())
    finally:
        await channel.stop()


async def test_idle_links_are_kept_alive_with_enquire_link() -> None:
    async with route(SmscConfig(), enquire_link_interval=0.05) as (sim, channel, harness):
        await harness.wait_for(lambda: sim.stats.enquire_links >= 3, "three enquire_link", within=10)
        assert channel.state.up and "reconnects" not in channel.stats.extra


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


async def test_tls_bind_with_a_checked_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    async with route(SmscConfig(ssl_context=server), ssl_context=client) as (sim, channel, harness):
        final = await deliver_all(channel, harness, numbered(300))
        assert all(r.outcome is Outcome.SUBMITTED for r in final.values())
        sim.inject_mo("+15557654321", "1234", "Received, thanks")
        await harness.wait_for(
            lambda: len(harness.receipts) >= 300 and harness.inbound != [], "receipts and MO"
        )
        assert len(receipts_by_delivery(harness, final)) == 300
        assert harness.inbound[0].text == "Received, thanks"


# -- the pure parts ------------------------------------------------------------------------------------------


def test_receipt_text_and_tlvs() -> None:
    text = (
        b"id:0A1B sub:001 dlvrd:000 submit date:2601010000 done date:2601010001 stat:UNDELIV err:034 text:hi"
    )
    assert parse_receipt(text, None, None, None) == RawReceipt("0A1B", "UNDELIV", "err:034")
    assert parse_receipt(text, b"2587\x00", 2, None) == RawReceipt("2587", "DELIVRD", "err:034")
    # A TLV string sent without its NUL loses its last octet in smpplib; the text has it whole.
    assert parse_receipt(b"id:123456 stat:DELIVRD", b"12345", None, None).message_id == "123456"
    assert parse_receipt(b"id:7 stat:DELIVERED err:000", None, None, b"\x03\x00\x22").error == (
        "network error type 3 code 34"
    )
    with pytest.raises(ValueError, match="without a message id"):
        parse_receipt(b"stat:DELIVRD", None, None, None)


def test_message_id_forms() -> None:
    assert message_id_forms("000F4240") == ("f4240", "000F4240", "1000000")
    assert message_id_forms("1000000") == ("1000000", "f4240", "16777216")
    assert message_id_forms("0") == ("0",)


def test_matcher_holds_early_receipts_and_merges_parts() -> None:
    matcher = ReceiptMatcher("op", hold=5.0)
    early = RawReceipt("1000000", "DELIVRD")
    assert matcher.receipt(early, now=0.0) == []  # its submit_sm_resp has not been processed yet
    [released] = matcher.submitted(["000f4240"], now=0.1)
    assert released.provider_ids[0] == "f4240" and released.delivered
    matcher.submitted(["a1", "a2", "a3"], now=1.0)
    assert matcher.receipt(RawReceipt("A1", "DELIVRD"), now=1.1) == []
    assert matcher.receipt(RawReceipt("ENROUTE-ignored", "ENROUTE"), now=1.1) == []
    [failed] = matcher.receipt(RawReceipt("a2", "UNDELIV", "err:001"), now=1.2)
    assert (failed.provider_ids[0], failed.delivered, failed.status) == ("a1", False, "UNDELIV")
    assert matcher.receipt(RawReceipt("a3", "DELIVRD"), now=1.3) == []  # already decided
    assert matcher.receipt(RawReceipt("ffff", "DELIVRD"), now=2.0) == []
    [stray] = matcher.expire(now=7.1)
    assert stray.provider_ids == ("ffff", "65535") and stray.delivered


def test_adaptive_rate_cuts_once_per_window_and_recovers() -> None:
    rate = AdaptiveRate(100.0, burst=5.0, now=0.0)
    assert [rate.take(0.0) for _ in range(2)] == [True, False]  # starts with one token, not a burst
    assert [rate.take(1.0) for _ in range(6)] == [True] * 5 + [False]
    assert rate.wait(1.0) == pytest.approx(0.01)
    rate.throttled(sent_at=1.0, now=1.01)
    rate.throttled(sent_at=1.0, now=1.011)  # same window: no second cut
    assert rate.rate == pytest.approx(70.0) and rate.cuts == 1
    rate.throttled(sent_at=1.02, now=1.03)
    assert rate.rate == pytest.approx(49.0)
    rate.take(1.5)
    assert rate.rate == pytest.approx(49.0)  # holding after a cut
    rate.take(4.0)
    assert 49.0 < rate.rate <= 100.0


def test_wire_helpers() -> None:
    assert outcome_for_status(0x0B) is Outcome.FAILED and outcome_for_status(0x08) is Outcome.RETRY
    assert outcome_for_status(0x45) is Outcome.RETRY and outcome_for_status(0x401) is Outcome.RETRY
    assert describe_status(0x58).startswith("ESME_RTHROTTLED (0x58)")
    assert describe_status(0x402) == "vendor-specific status (0x402)"
    assert destination_address("+44 7700 900123").digits == "447700900123"
    with pytest.raises(ValueError, match="not a phone number"):
        destination_address("+44-7700")
    assert absolute_time(datetime(2026, 3, 1, 13, 5, 9, tzinfo=UTC)) == "260301130509000+"


def test_bind_config_refuses_what_smpp_3_4_cannot_carry() -> None:
    with pytest.raises(ValueError, match=r"alertcast@h:1: password must be at most 8 characters"):
        SmppBindConfig("h", 1, "alertcast", "much-too-long")
    with pytest.raises(ValueError, match="alphanumeric senders are at most 11"):
        SmppBindConfig("h", 1, "alertcast", "pw", source_addr="EmergencyAlerts")
    assert "pw" not in repr(SmppBindConfig("h", 1, "alertcast", "pw"))


@pytest.mark.parametrize(
    ("source", "text", "expires"),
    [
        ("ALERTS", "Boil water notice", False),
        ("+15550009999", "Évacuez 🚨 maintenant, route nord ✅ " * 4, True),
        ("", "Shelter {North Hall} [gym] ~ €2 | ^ \\ " * 9, True),
        ("1234", "x" * 160, False),
    ],
)
def test_fast_submit_sm_is_byte_identical_to_smpplib(source: str, text: str, expires: bool) -> None:
    config = SmppBindConfig("h", 1, "alertcast", "pw", source_addr=source, system_type="ALRT")
    expires_at = datetime.now(UTC) + timedelta(hours=6) if expires else None
    outgoing = prepare(
        OutboundMessage(1, "+447700900123", text, priority=4, expires_at=expires_at), config, 9
    )
    assert not isinstance(outgoing, SendResult)
    esme = smpplib.client.Client("127.0.0.1", 1, allow_unknown_opt_params=True)
    for sequence, fields in enumerate(outgoing.parts, start=41):
        reference = smpplib.smpp.make_pdu("submit_sm", client=esme, **fields)
        reference.sequence = sequence
        assert encode_submit_sm(sequence, fields) == reference.generate()


def _deliver_sm_from_smpplib(**fields: Any) -> bytes:
    esme = smpplib.client.Client("127.0.0.1", 1, allow_unknown_opt_params=True)
    return bytes(smpplib.smpp.make_pdu("deliver_sm", client=esme, **fields).generate())


@pytest.mark.parametrize(
    "raw",
    [
        _deliver_sm_from_smpplib(
            source_addr="447700900123", source_addr_ton=1, destination_addr="ALERTS", esm_class=4,
            short_message=b"id:000f4240 sub:001 dlvrd:001 stat:DELIVRD err:000 text:x",
            receipted_message_id="000f4240", message_state=2, network_error_code=b"\x03\x00\x00",
        ),
        _deliver_sm_from_smpplib(
            source_addr="15557654321", source_addr_ton=1, destination_addr="1234", data_coding=8,
            short_message="Oui 👍".encode("utf-16-be"), sar_msg_ref_num=513, sar_total_segments=2, sar_segment_seqnum=1,
        ),
        # A vendor TLV smpplib does not know, appended (the header's length fixed up).
        (lambda pdu: (len(pdu) + 7).to_bytes(4, "big") + pdu[4:] + b"\x14\x01\x00\x03abc")(
            _deliver_sm_from_smpplib(source_addr="1555", destination_addr="99", short_message=b"YES")
        ),
    ],
)  # fmt: skip
def test_fast_deliver_sm_reads_what_smpplib_reads(raw: bytes) -> None:
    esme = smpplib.client.Client("127.0.0.1", 1, allow_unknown_opt_params=True)
    reference = smpplib.smpp.parse_pdu(raw, client=esme, allow_unknown_opt_params=True)
    fast = decode_deliver_sm(raw)
    for name in DeliverSm.__slots__:
        assert getattr(fast, name) == getattr(reference, name), name


def test_fast_deliver_sm_leaves_the_unusual_to_smpplib() -> None:
    raw = _deliver_sm_from_smpplib(source_addr="1555", destination_addr="99", short_message=b"YES")
    with pytest.raises(Unusual):
        decode_deliver_sm(raw[:-2])  # sm_length now runs past the end
    assert submit_sm_resp_message_id(
        bytes.fromhex("0000001980000004000000000000000730303066343234300000")[:25]
    ) == (b"000f4240")


def test_the_documented_permanent_table_is_the_code_table() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "smpp.md").read_text(encoding="utf-8")
    section = doc.split("### Permanent → FAILED", 1)[1].split("###", 1)[0]
    documented = {
        int(code, 16) for code in re.findall(r"^\| ESME_\w+ \(0x([0-9A-F]+)\)", section, re.MULTILINE)
    }
    assert documented == PERMANENT
