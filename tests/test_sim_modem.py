"""The GSM modem simulator, spoken to directly over its pseudo-terminals with pyserial.

These tests pin the AT behaviour the channel is tested against: if the simulator drifted from what
TS 27.005 / 27.007 modems do, the channel's tests would prove nothing.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
import serial

from alertcast.core.pdu import build_submit_pdus, decode_deliver_pdu, decode_status_report_pdu
from alertcast.core.sms import gsm7_encode, plan_sms
from alertcast.sim.modem import ModemBankSimulator, ModemSettings

QUICK = ModemSettings(send_delay=0.005, report_delay=0.005)
FINAL = re.compile(rb"\r\n(OK|ERROR|\+CM[SE] ERROR: [^\r]*)\r\n")
PROMPT = re.compile(rb"\r\n> ")


class AtClient:
    """A bare client: writes a line, reads until a final result (or the prompt); keeps what follows."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.01)
        self.buffer = b""

    def close(self) -> None:
        self.port.close()

    def _take(self, find_end: Callable[[bytes], int | None], within: float) -> bytes:
        deadline = time.monotonic() + within
        while (end := find_end(self.buffer)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing expected in {self.buffer!r}")
            self.buffer += self.port.read(4096)
        taken, self.buffer = self.buffer[:end], self.buffer[end:]
        return taken

    def read_until(self, ending: bytes, within: float = 3.0) -> bytes:
        return self._take(lambda data: data.find(ending) + len(ending) if ending in data else None, within)

    def read_answer(self, within: float = 3.0) -> bytes:
        """Through the first final result code (OK, ERROR, +CMS/+CME ERROR) or the ``> `` prompt."""

        def end(data: bytes) -> int | None:
            ends = [m.end() for m in (FINAL.search(data), PROMPT.search(data)) if m]
            return min(ends) if ends else None

        return self._take(end, within)

    def at(self, command: str, *, body: bytes | None = None) -> str:
        self.port.write(command.encode("latin-1") + b"\r")
        data = self.read_answer()
        if body is not None:
            assert data.endswith(b"> "), data
            self.port.write(body)
            data += self.read_answer()
        return data.decode("latin-1")

    def lines(self, command: str, **kwargs: bytes) -> list[str]:
        return [line for line in self.at(command, **kwargs).split("\r\n") if line]


@pytest.fixture
def sim() -> Iterator[ModemBankSimulator]:
    with ModemBankSimulator(2, settings=QUICK, seed=7) as bank:
        yield bank


@pytest.fixture
def client(sim: ModemBankSimulator) -> Iterator[AtClient]:
    at = AtClient(sim.port_paths[0])
    yield at
    at.close()


def submit_hex(number: str, text: str, *, report: bool = False) -> list[tuple[int, str]]:
    pdus = build_submit_pdus(number, plan_sms(text), reference=9, status_report=report, validity_minutes=60)
    return [(pdu.tpdu_length, pdu.hex) for pdu in pdus]


def test_echo_and_error_reporting_follow_the_modem_defaults(client: AtClient) -> None:
    assert client.at("AT") == "AT\r\r\nOK\r\n"  # echo is on at power-on
    assert client.at("ATE0") == "ATE0\r\r\nOK\r\n"
    assert client.at("AT") == "\r\nOK\r\n"
    assert client.lines("AT+CMGR=9") == ["ERROR"]  # no numeric codes before AT+CMEE=1
    client.at("AT+CMEE=1")
    assert client.lines("AT+CMGR=9") == ["+CMS ERROR: 321"]
    assert client.lines("AT+NOSUCH") == ["ERROR"]
    client.at("AT+CMEE=2")
    assert client.lines("AT+CMGR=9") == ["+CMS ERROR: invalid memory index"]
    assert client.lines("AT+CMGF=1;+CMGF?") == ["+CMGF: 1", "OK"]


def test_sim_pin_unlocks_and_three_wrong_pins_lock_the_sim() -> None:
    with ModemBankSimulator(1, settings=replace(QUICK, pin="1234")) as sim:
        client = AtClient(sim.port_paths[0])
        client.at("ATE0;+CMEE=1")
        assert client.lines("AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]
        assert client.lines("AT+CREG?") == ["+CREG: 0,0", "OK"]
        assert client.lines('AT+CPIN="1234"') == ["OK"]
        assert client.lines("AT+CREG?") == ["+CREG: 0,1", "OK"]
        assert client.lines("AT+CSQ") == ["+CSQ: 20,99", "OK"]
        sim.unplug(0)
        sim.replug(0)  # power cycle: the PIN is asked again
        client.close()
        client = AtClient(sim.port_paths[0])
        client.at("ATE0;+CMEE=1")
        for left in (2, 1, 0):
            assert client.lines('AT+CPIN="0000"') == ["+CME ERROR: 16"]
            assert sim.pin_attempts_left(0) == left
        assert client.lines("AT+CPIN?") == ["+CPIN: SIM PUK", "OK"]
        assert client.lines('AT+CPIN="1234"') == ["+CME ERROR: 12"]
        client.close()


def test_pdu_send_prompt_answer_and_decoded_statistics(client: AtClient, sim: ModemBankSimulator) -> None:
    client.at("ATE0;+CMEE=1;+CMGF=0")
    port = client.port
    ((length, pdu_hex),) = submit_hex("+447700900001", "Hello {world} €")
    port.write(f"AT+CMGS={length}\r".encode())
    assert client.read_until(b"> ") == b"\r\n> " and client.buffer == b""  # the prompt has no line end
    port.write(pdu_hex.encode() + b"\x1a")
    answer = client.read_until(b"\r\nOK\r\n").decode()
    assert answer.startswith("\r\n+CMGS: ") and answer.endswith("\r\n\r\nOK\r\n")
    for length, pdu_hex in submit_hex("+447700900002", "Long " * 70):
        assert "+CMGS:" in client.at(f"AT+CMGS={length}", body=pdu_hex.encode() + b"\x1a")
    stats = sim.stats(0)
    assert [(m.number, m.text, m.parts) for m in stats.messages] == [
        ("+447700900001", "Hello {world} €", 1),
        ("+447700900002", "Long " * 70, 3),
    ]
    assert (
        stats.parts_sent == 4
        and stats.sent == 2
        and sim.stats().destinations == {"+447700900001", "+447700900002"}
    )
    assert "+CMGS:" in client.at(f"AT+CMGS={length}", body=pdu_hex.encode() + b"\x1a")
    assert sim.stats(0).incomplete_messages == 1  # a lone repeated part waits for its siblings


def test_bad_pdus_and_cancelled_sends_are_refused(client: AtClient, sim: ModemBankSimulator) -> None:
    client.at("ATE0;+CMEE=1")
    ((length, pdu_hex),) = submit_hex("+447700900001", "Hello")
    assert client.lines(f"AT+CMGS={length + 1}", body=pdu_hex.encode() + b"\x1a")[-1] == "+CMS ERROR: 304"
    assert client.lines(f"AT+CMGS={length}", body=b"ZZ" + b"\x1a")[-1] == "+CMS ERROR: 304"
    assert client.lines(f"AT+CMGS={length}", body=pdu_hex.encode() + b"\x1b")[-1] == "OK"
    stats = sim.stats(0)
    assert (stats.bad_pdus, stats.cancelled, stats.sent) == (2, 1, 0)


def test_injected_errors_and_lost_network(client: AtClient, sim: ModemBankSimulator) -> None:
    client.at("ATE0;+CMEE=1")
    ((length, pdu_hex),) = submit_hex("+447700900001", "Hello")
    body = pdu_hex.encode() + b"\x1a"
    sim.fail_next(0, 42, count=2, after=1)
    outcomes = [client.lines(f"AT+CMGS={length}", body=body)[-1] for _ in range(4)]
    assert outcomes == ["OK", "+CMS ERROR: 42", "+CMS ERROR: 42", "OK"]
    sim.fail_fraction(0, 38, 1.0)
    assert client.lines(f"AT+CMGS={length}", body=body)[-1] == "+CMS ERROR: 38"
    sim.fail_fraction(0, 38, 0.0)
    sim.configure(0, registration=2)
    assert client.lines("AT+CREG?") == ["+CREG: 0,2", "OK"]
    assert client.lines(f"AT+CMGS={length}", body=body)[-1] == "+CMS ERROR: 331"
    assert sim.stats(0).send_errors == 4 and sim.stats(0).sent == 2
    with pytest.raises(ValueError, match="no setting 'colour'"):
        sim.configure(0, colour="blue")


def test_status_reports_arrive_as_cds_or_are_stored(client: AtClient, sim: ModemBankSimulator) -> None:
    client.at("ATE0;+CMEE=1;+CNMI=2,1,0,1,0")
    ((length, pdu_hex),) = submit_hex("+447700900001", "Hello", report=True)
    answer = client.at(f"AT+CMGS={length}", body=pdu_hex.encode() + b"\x1a")
    reference = int(answer.split("+CMGS: ")[1].split("\r")[0])
    client.read_until(b"+CDS: ", within=2.0)
    header = "+CDS: " + client.read_until(b"\r\n").decode().strip()
    report_hex = client.read_until(b"\r\n").decode().strip()
    report = decode_status_report_pdu(report_hex, tpdu_length=int(header.split(": ")[1]))
    assert (report.message_reference, report.recipient, report.state) == (
        reference,
        "+447700900001",
        "delivered",
    )
    client.at("AT+CNMI=2,1,0,2,0")
    client.at(f"AT+CMGS={length}", body=pdu_hex.encode() + b"\x1a")
    client.read_until(b'+CDSI: "SM",1\r\n', within=2.0)
    _, pdu_line = client.lines("AT+CMGR=1")[:2]
    assert decode_status_report_pdu(pdu_line).message_reference == (reference + 1) % 256


def test_incoming_messages_are_announced_read_listed_and_deleted(
    client: AtClient, sim: ModemBankSimulator
) -> None:
    client.at("ATE0;+CMEE=1;+CNMI=2,1,0,1,0")
    sim.inject_sms(0, "+447700900009", "YES " * 50)  # two parts
    announced = client.read_until(b'"SM",2\r\n', within=2.0).decode()
    assert announced.count("+CMTI:") == 2
    header, pdu_line = client.lines("AT+CMGR=1")[:2]
    assert header == "+CMGR: 0,,{}".format(header.split(",")[-1])
    first = decode_deliver_pdu(pdu_line)
    assert first.sender == "+447700900009" and first.concat is not None and first.concat.total == 2
    listing = client.lines("AT+CMGL=4")
    assert [line.split(",")[:2] for line in listing if line.startswith("+CMGL")] == [
        ["+CMGL: 1", "1"],
        ["+CMGL: 2", "0"],
    ]
    client.at("AT+CMGD=1")
    assert len(sim.stored(0)) == 1
    client.at("AT+CMGD=1,4")
    assert sim.stored(0) == []
    client.at('AT+CMGF=1;+CSCS="GSM"')
    sim.inject_sms(0, "ALERTS", "Text mode @ home")
    client.read_until(b'"SM",1\r\n', within=2.0)
    header, text = client.at("AT+CMGR=1").encode("latin-1").split(b"\r\n")[1:3]
    assert header.startswith(b'+CMGR: "REC UNREAD","ALERTS",,"') and text == gsm7_encode("Text mode @ home")
    client.at("AT+CMGF=0;+CNMI=2,2,0,1,0")
    sim.inject_sms(0, "+447700900010", "routed straight")
    client.read_until(b"+CMT: ,", within=2.0)
    client.read_until(b"\r\n")
    pdu_line = client.read_until(b"\r\n").decode().strip()
    assert decode_deliver_pdu(pdu_line).text == "routed straight"


def test_text_mode_send_uses_the_gsm_character_set(client: AtClient, sim: ModemBankSimulator) -> None:
    client.at('ATE0;+CMEE=1;+CMGF=1;+CSCS="GSM";+CSMP=49,167,0,0')
    body = gsm7_encode("Shelter @ school_hall $5") + b"\x1a"
    assert client.lines('AT+CMGS="+447700900001",145', body=body)[-1] == "OK"
    message = sim.stats(0).messages[0]
    assert (message.text, message.encoding, message.status_report_requested) == (
        "Shelter @ school_hall $5",
        "text",
        True,
    )


def test_unplug_fails_the_client_and_replug_restores_the_path(
    client: AtClient, sim: ModemBankSimulator
) -> None:
    path = sim.port_paths[0]
    device = os.path.realpath(path)
    client.at("ATE0")
    sim.inject_sms(0, "+447700900009", "kept on the SIM")
    sim.unplug(0)
    assert not os.path.exists(path) and not sim.plugged(0)
    with pytest.raises(serial.SerialException):
        for _ in range(100):
            client.port.write(b"AT\r")
            client.port.read(100)
            time.sleep(0.01)
    sim.replug(0)
    assert os.path.exists(path) and sim.plugged(0)
    again = AtClient(path)
    try:
        assert again.at("AT") == "AT\r\r\nOK\r\n"  # powered on afresh: echo is back on
        assert len(sim.stored(0)) == 1  # the SIM keeps its messages
        assert os.path.realpath(path) != device or os.path.exists(device)
    finally:
        again.close()


def test_noise_lines_come_between_command_and_answer() -> None:
    with ModemBankSimulator(1, settings=replace(QUICK, noise=1.0)) as sim:
        client = AtClient(sim.port_paths[0])
        answer = client.at("ATE0")
        client.close()
    noise = [line for line in answer.split("\r\n") if line and line not in ("ATE0\r", "OK")]
    assert noise and all(line.startswith(("RING", "^")) for line in noise)


def test_serve_blocks_until_stopped() -> None:
    sim = ModemBankSimulator(1, settings=QUICK)
    seen: list[list[str]] = []
    thread = threading.Thread(target=lambda: sim.serve(ready=seen.append))
    thread.start()
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen and os.path.exists(seen[0][0]) and thread.is_alive()
    sim.stop()
    thread.join(5)
    assert not thread.is_alive() and not os.path.exists(seen[0][0])
