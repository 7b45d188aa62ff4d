"""Pieces of the simulated modem that are plain data: settings, stored messages, error texts, argument parsing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

CMS_SIM_NOT_INSERTED = 310
CMS_SIM_PIN_REQUIRED = 311
CMS_OPERATION_NOT_SUPPORTED = 303
CMS_INVALID_PDU_PARAMETER = 304
CMS_INVALID_TEXT_PARAMETER = 305
CMS_INVALID_INDEX = 321
CMS_NO_NETWORK = 331

_CME_TEXTS = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    16: "incorrect password",
    30: "no network service",
}
_CMS_TEXTS = {
    38: "Network out of order",
    42: "Congestion",
    300: "ME failure",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    321: "invalid memory index",
    331: "no network service",
    332: "network timeout",
}


def cme_text(code: int) -> str:
    return _CME_TEXTS.get(code, "unknown")


def cms_text(code: int) -> str:
    return _CMS_TEXTS.get(code, "unknown error")


class Scheduler(Protocol):
    """Runs a callback later on the simulator's thread."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> None: ...


class AtError(Exception):
    """Ends a command line with ``final`` (``ERROR``, ``+CME ERROR: n``, ``+CMS ERROR: n``)."""

    def __init__(self, final: str) -> None:
        super().__init__(final)
        self.final = final


@dataclass
class ModemSettings:
    """How one simulated modem behaves. Changed at run time through the simulator's methods."""

    send_delay: float = 3.0
    """Seconds between Ctrl-Z and ``+CMGS`` (a real modem takes 3–10 s)."""
    report_delay: float = 1.0
    """Seconds between ``+CMGS`` and the ``+CDS`` status report, when one was asked for."""
    pin: str | None = None
    """The SIM's PIN; None means the SIM is unlocked at power-on (``+CPIN: READY``)."""
    registration: int = 1
    """``+CREG`` status once the SIM is ready: 1 home, 5 roaming, 2 searching, 3 denied, 0 not searching."""
    signal: int = 20
    """``+CSQ`` RSSI (0–31) while registered."""
    sim_error: int | None = None
    """When set, ``AT+CPIN`` answers with this ``+CME ERROR`` (10 SIM not inserted, 13 SIM failure)."""
    report_status: int = 0
    """TP-ST of status reports: 0 delivered; 0x20–0x3F pending; 0x40–0x7F failed."""
    failing_prefixes: tuple[str, ...] = ()
    """Numbers starting with one of these get a failed status report (TP-ST 0x46, validity expired)."""
    noise: float = 0.0
    """Chance (0–1) of an unsolicited noise line (``RING``, ``^RSSI``...) at each point in an exchange."""
    storage_size: int = 30
    imei: str = ""
    smsc: str = "+15550000000"
    mute: bool = False
    """A hung modem: reads are discarded and nothing is written (the port itself stays open)."""
    unplug_completes_send: bool = True
    """A message past Ctrl-Z when the cable is pulled still reaches the network (the honest worst case)."""
    extra: dict[str, str] = field(default_factory=dict)

    def report_status_for(self, number: str) -> int:
        if self.failing_prefixes and number.lstrip("+").startswith(
            tuple(prefix.lstrip("+") for prefix in self.failing_prefixes)
        ):
            return 0x46
        return self.report_status


@dataclass
class StoredMessage:
    """A message in the SIM's storage, kept as the PDU the network delivered."""

    kind: str
    """``deliver`` (an incoming SMS part) or ``report`` (a status report stored under CNMI ds=2)."""
    pdu_hex: str
    tpdu_length: int
    number: str
    text: str
    timestamp: datetime
    unread: bool = True


def split_command_line(rest: str) -> list[str]:
    """Split what follows ``AT`` at ``;`` outside quotes: ``+CMGF=0;+CNMI=2,1`` is two commands."""
    commands: list[str] = []
    current = ""
    quoted = False
    for char in rest:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            commands.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip() or not commands:
        commands.append(current.strip())
    return [command for command in commands if command] or [""]


def parse_number_argument(argument: str) -> str:
    """The number of ``AT+CMGS="<da>"[,<toda>]`` or ``AT+CSCA="<sca>"[,<tosca>]``."""
    number = argument.split(",")[0].strip().strip('"')
    digits = number[1:] if number.startswith("+") else number
    if not digits.isdigit() or len(digits) > 20:
        raise ValueError(f"not a phone number: {number!r}")
    return number


def set_int(rest: str, low: int, high: int) -> int:
    """The integer of ``=<n>`` (first value of a list), refused with ``ERROR`` outside ``low..high``."""
    try:
        value = int(rest.lstrip("=").split(",")[0])
    except ValueError:
        raise AtError("ERROR") from None
    if not low <= value <= high:
        raise AtError("ERROR")
    return value
