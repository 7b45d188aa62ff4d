"""The SMSC simulator, driven over real TCP by smpplib (an independent SMPP implementation) and raw sockets.

The simulator runs in its own thread (``run_in_thread``) so these tests can use a blocking client, as an
ESME would.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import smpplib.client
import smpplib.consts as c

from alertcast.core.sms import concat_udh, gsm7_encode, plan_sms
from alertcast.sim.smsc import SmscConfig, SmscSimulator
from alertcast.sim.smsc_thread import SmscThread

pytestmark = pytest.mark.timeout(30)


@contextmanager
def simulator(**settings: Any) -> Iterator[SmscThread]:
    with SmscSimulator(SmscConfig(**settings)).run_in_thread() as handle:
        yield handle


@contextmanager
def client(
    port: int, mode: str | None = "transceiver", **credentials: str
) -> Iterator[smpplib.client.Client]:
    esme = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    esme.connect()
    try:
        if mode is not None:
            bind = getattr(esme, f"bind_{mode}")
            bind(
                system_id=credentials.get("system_id", "alertcast"),
                password=credentials.get("password", "secret"),
            )
        yield esme
    finally:
        esme.state = c.SMPP_CLIENT_STATE_OPEN  # skip smpplib's "disconnecting in the bound state" warning
        esme.disconnect()


def submit(esme: smpplib.client.Client, destination: str, short_message: bytes, **fields: Any) -> Any:
    """Send one submit_sm and return the next PDU that is not a deliver_sm (answering those)."""
    esme.send_message(
        source_addr="ALERT",
        source_addr_ton=5,
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr=destination,
        short_message=short_message,
        **fields,
    )
    return read_until(esme, "submit_sm_resp")


def read_until(esme: smpplib.client.Client, command: str) -> Any:
    """The next ``command`` PDU; deliver_sm PDUs on the way (and the one returned) are acknowledged."""
    for _ in range(50):
        pdu = esme.read_pdu()
        if pdu.command == "deliver_sm":
            answer = smpplib.smpp.make_pdu("deliver_sm_resp", client=esme)
            answer.sequence = pdu.sequence
            esme.send_pdu(answer)
        if pdu.command == command:
            return pdu
    raise AssertionError(f"no {command} among 50 PDUs")


def eventually(check: Any, what: str) -> None:
    """Poll a condition the simulator's thread makes true soon (bounded: 5 s)."""
    deadline = time.monotonic() + 5
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within 5 s: {what}")
        time.sleep(0.01)


def raw_frame(sock: socket.socket) -> tuple[int, int, int, bytes]:
    header = _recv_exactly(sock, 16)
    length, command_id, status, sequence = struct.unpack(">IIII", header)
    body = _recv_exactly(sock, length - 16)
    return command_id, status, sequence, body


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} octets")
        data += chunk
    return data


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        ("alertcast", "secret", c.SMPP_ESME_ROK),
        ("alertcast", "wrong", c.SMPP_ESME_RINVPASWD),
        ("stranger", "secret", c.SMPP_ESME_RINVSYSID),
    ],
)
def test_bind_checks_system_id_and_password(system_id: str, password: str, status: int) -> None:
    with simulator() as sim, client(sim.port, mode=None) as esme:
        esme.send_pdu(
            smpplib.smpp.make_pdu("bind_transmitter", client=esme, system_id=system_id, password=password)
        )
        response = esme.read_pdu()
        assert (response.command, response.status) == ("bind_transmitter_resp", status)
        assert sim.stats()["bind_refusals"] == (0 if status == c.SMPP_ESME_ROK else 1)


def test_binds_above_the_account_limit_fail() -> None:
    with simulator(max_binds_per_account=1) as sim, client(sim.port), client(sim.port, mode=None) as second:
        second.send_pdu(
            smpplib.smpp.make_pdu("bind_receiver", client=second, system_id="alertcast", password="secret")
        )
        assert second.read_pdu().status == c.SMPP_ESME_RBINDFAIL


def test_submit_before_bind_and_garbage_get_the_spec_answers() -> None:
    with simulator() as sim, socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        sock.sendall(struct.pack(">IIII", 16 + 3, 0x04, 0, 7) + b"\x00\x00\x00")  # submit_sm, not bound
        assert raw_frame(sock)[:3] == (0x80000004, c.SMPP_ESME_RINVBNDSTS, 7)
        sock.sendall(struct.pack(">IIII", 16, 0x99, 0, 8))  # no such command
        assert raw_frame(sock)[:3] == (0x80000000, c.SMPP_ESME_RINVCMDID, 8)
        sock.sendall(struct.pack(">IIII", 16, 0x15, 0, 9))  # the stream is still in step: enquire_link
        assert raw_frame(sock)[:3] == (0x80000015, c.SMPP_ESME_ROK, 9)
        sock.sendall(struct.pack(">I", 8) + b"junk")  # impossible command_length: nack, then hang up
        assert raw_frame(sock)[:2] == (0x80000000, c.SMPP_ESME_RINVCMDLEN)
        assert sock.recv(16) == b""
        assert sim.stats()["generic_nacks"] == 2


def test_message_ids_hex_with_decimal_receipts_carrying_tlvs_and_text() -> None:
    with (
        simulator(receipt_id_format="decimal", undeliverable_prefixes=("+4477",)) as sim,
        client(sim.port) as esme,
    ):
        first = submit(esme, "15550001", b"hello", registered_delivery=1)
        second = submit(esme, "447700900", b"unlucky", registered_delivery=1)
        assert (first.status, first.message_id) == (c.SMPP_ESME_ROK, b"000f4240")
        assert second.message_id == b"000f4241"
        receipts = {
            pdu.receipted_message_id: pdu for pdu in (read_until(esme, "deliver_sm") for _ in range(2))
        }
        delivered, undelivered = receipts[b"1000000"], receipts[b"1000001"]
        assert delivered.esm_class == 0x04 and delivered.message_state == 2
        assert b"id:1000000 " in delivered.short_message and b"stat:DELIVRD" in delivered.short_message
        assert b"text:hello" in delivered.short_message
        assert undelivered.message_state == 5 and b"stat:UNDELIV" in undelivered.short_message


def test_receipts_only_when_asked_and_decimal_ids() -> None:
    with simulator(message_id_format="decimal", receipt_tlvs=False) as sim, client(sim.port) as esme:
        assert submit(esme, "15550001", b"quiet", registered_delivery=0).message_id == b"1000000"
        assert submit(esme, "15550002", b"tell me", registered_delivery=1).message_id == b"1000001"
        receipt = read_until(esme, "deliver_sm")  # the first message's receipt would have come first
        assert receipt.receipted_message_id is None and b"id:1000001 " in receipt.short_message


def test_throughput_cap_answers_throttled() -> None:
    with simulator(throughput=1.0, throughput_burst=1.0) as sim, client(sim.port) as esme:
        statuses = [submit(esme, f"1555000{n}", b"x").status for n in range(4)]
        assert statuses == [c.SMPP_ESME_ROK] + [c.SMPP_ESME_RTHROTTLED] * 3
        stats = sim.stats()
        assert (stats["submits"], stats["accepted"], stats["throttled"]) == (4, 1, 3)


def test_injected_failures() -> None:
    with simulator(reject_prefixes=("+1999",)) as sim, client(sim.port) as esme:
        assert submit(esme, "19990001", b"x").status == c.SMPP_ESME_RINVDSTADR
        assert submit(esme, "15550001", b"x").status == c.SMPP_ESME_ROK
    with simulator(syserr_fraction=1.0) as sim, client(sim.port) as esme:
        assert submit(esme, "15550001", b"x").status == c.SMPP_ESME_RSYSERR
        assert sim.stats()["rejected"] == {"ESME_RSYSERR": 1}


def test_concatenated_texts_are_reassembled_and_decoded() -> None:
    gsm_text = "Evacuate {zone 4} now [route A] ~ €5 fine | ^ " * 6
    ucs2_text = "Évacuez 🚨 maintenant ✅ " * 5
    with simulator() as sim, client(sim.port) as esme:
        gsm_plan, ucs2_plan = plan_sms(gsm_text), plan_sms(ucs2_text)
        assert gsm_plan.encoding == "gsm7" and gsm_plan.segments > 2 and ucs2_plan.segments > 1
        # GSM-7 parts out of order, 8-bit reference.
        order = [*range(1, gsm_plan.segments + 1)][::-1]
        for number in order:
            payload = concat_udh(7, gsm_plan.segments, number) + gsm_plan.parts[number - 1].payload
            assert submit(esme, "15550001", payload, esm_class=0x40, data_coding=0).status == 0
        # UCS-2 parts with a 16-bit reference header.
        for number, part in enumerate(ucs2_plan.parts, start=1):
            header = bytes((6, 0x08, 4, 0x12, 0x34, ucs2_plan.segments, number))
            assert submit(esme, "15550002", header + part.payload, esm_class=0x40, data_coding=8).status == 0
        # SAR optional parameters instead of a header.
        for number, piece in enumerate((b"first half, ", b"second half"), start=1):
            fields = {"sar_msg_ref_num": 99, "sar_total_segments": 2, "sar_segment_seqnum": number}
            assert submit(esme, "15550003", gsm7_encode(piece.decode()), **fields).status == 0
        submit(esme, "15550004", b"same")
        submit(esme, "15550004", b"same")
        stats = sim.stats(with_messages=True)
    assert stats["texts"] == {
        "15550001": [gsm_text],
        "15550002": [ucs2_text],
        "15550003": ["first half, second half"],
        "15550004": ["same", "same"],
    }
    assert (stats["unique_destinations"], stats["duplicates"], stats["incomplete"]) == (4, 1, 0)


def test_disconnect_every_n_drops_the_link_without_answering() -> None:
    with simulator(disconnect_every=3, disconnect_limit=1) as sim, client(sim.port) as esme:
        assert submit(esme, "15550001", b"one").status == 0
        assert submit(esme, "15550002", b"two").status == 0
        with pytest.raises(smpplib.exceptions.ConnectionError):
            submit(esme, "15550003", b"three")
        stats = sim.stats()
        assert (stats["accepted"], stats["disconnects"], stats["messages"]) == (3, 1, 3)


def test_mo_waits_for_a_receiver_then_arrives_concatenated() -> None:
    text = "Yes, we are safe at the school. " * 6
    with simulator() as sim:
        assert sim.inject_mo("+15557654321", "1234", text) == 2
        with client(sim.port, mode="receiver") as esme:
            parts = [read_until(esme, "deliver_sm") for _ in range(2)]
        assert {p.esm_class for p in parts} == {0x40}
        assert parts[0].source_addr == b"15557654321" and parts[0].destination_addr == b"1234"
        payloads = sorted(p.short_message for p in parts)  # sequence number sorts them
        assert (
            b"".join(p[6:] for p in payloads)
            == plan_sms(text).parts[0].payload + plan_sms(text).parts[1].payload
        )
        eventually(lambda: sim.stats()["mo_sent"] == 2, "both MO parts acknowledged")


def test_server_enquire_link_and_dead_peer() -> None:
    with simulator(enquire_link_interval=0.2) as sim, client(sim.port) as esme:
        ping = esme.read_pdu()
        assert ping.command == "enquire_link"
        with pytest.raises(smpplib.exceptions.ConnectionError):
            esme.read_pdu()  # not answered: the simulator drops us a while later
        assert sim.stats()["binds"] == 1


def test_unbind_is_answered_then_closed() -> None:
    with simulator() as sim, client(sim.port) as esme:
        assert esme.unbind().command == "unbind_resp"
        with pytest.raises(smpplib.exceptions.ConnectionError):
            esme.read_pdu()


def _http(
    port: int, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_http_control() -> None:
    with simulator(http_port=0) as sim, client(sim.port) as esme:
        assert sim.http_port
        submit(esme, "15550001", b"hi")
        status, stats = _http(sim.http_port, "GET", "/stats?texts=1")
        assert status == 200 and stats["accepted"] == 1 and stats["texts"] == {"15550001": ["hi"]}
        assert _http(sim.http_port, "POST", "/mo", {"from": "+15550009", "to": "1234"}) == (
            400,
            {"error": "field 'text' is required and must be a string"},
        )
        assert _http(sim.http_port, "POST", "/mo", {"from": "+15550009", "to": "1234", "text": "OK"}) == (
            200,
            {"queued": True, "parts": 1},
        )
        mo = read_until(esme, "deliver_sm")
        assert (mo.source_addr, mo.short_message) == (b"15550009", b"OK")
        assert _http(sim.http_port, "GET", "/nowhere")[0] == 404
        assert _http(sim.http_port, "GET", "/disconnect")[0] == 405
        assert _http(sim.http_port, "POST", "/disconnect") == (200, {"disconnected": 1})
        with pytest.raises(smpplib.exceptions.ConnectionError):
            esme.read_pdu()


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="syserr_fraction must be between 0 and 1"):
        SmscConfig(syserr_fraction=2)
    with pytest.raises(ValueError, match="throughput must be positive"):
        SmscConfig(throughput=0)
