"""What comes back from a modem: status reports become receipts, stored or routed SMS become replies.

Parsing only; the owner thread decides when to read and delete. Decoding is :mod:`alertcast.core.pdu`'s.

Receipt ids. A modem gives each SMS-SUBMIT a message reference (TP-MR, 0–255) and the status report
carries it back with the recipient's number. The reference wraps after 256 sends, so the id the bank
reports is ``<modem id>:<mr>:<recipient digits>``: it only repeats when one modem sends a 256th message to
the same number, and it needs no state, so receipts arriving after a restart still match. A concatenated
message's id is that of its first part; the reports of all its parts are gathered into one receipt
(delivered when every part was, failed as soon as one part failed).
"""

from __future__ import annotations

import csv
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from alertcast.channels.base import InboundMessage, Receipt
from alertcast.channels.modem_link import Unsolicited
from alertcast.core.pdu import (
    DecodedDeliver,
    DeliveryState,
    decode_deliver_pdu,
    decode_status_report_pdu,
    delivery_state,
    reassemble_text,
)
from alertcast.core.sms import gsm7_decode

_TP_ST_TEXT = {
    0x40: "remote procedure error",
    0x41: "incompatible destination",
    0x42: "connection rejected by the recipient",
    0x43: "not obtainable",
    0x44: "quality of service not available",
    0x45: "no interworking available",
    0x46: "validity period expired",
    0x47: "deleted by the sender",
    0x48: "deleted by the service centre",
    0x49: "message does not exist",
    0x60: "congestion (service centre gave up)",
    0x61: "recipient busy (service centre gave up)",
    0x62: "no response from the recipient (service centre gave up)",
    0x63: "service rejected (service centre gave up)",
    0x65: "error in the recipient's phone (service centre gave up)",
}
_MAX_TRACKED = 20_000


def digits_of(number: str) -> str:
    return "".join(char for char in number if char.isdigit())


def provider_id(modem_id: str, reference: int, recipient: str) -> str:
    return f"{modem_id}:{reference}:{digits_of(recipient)}"


@dataclass(frozen=True, slots=True)
class StatusReport:
    reference: int
    recipient: str
    status: int
    state: DeliveryState


def parse_status_report(urc: Unsolicited) -> StatusReport:
    """``+CDS: <length>`` + PDU line (PDU mode), or ``+CDS: <fo>,<mr>,<ra>,<tora>,<scts>,<dt>,<st>``."""
    value = urc.line.partition(":")[2].strip()
    if urc.data is not None:
        decoded = decode_status_report_pdu(urc.data, tpdu_length=int(value))
        return StatusReport(decoded.message_reference, decoded.recipient, decoded.status, decoded.state)
    fields = next(csv.reader([value]))
    if len(fields) < 7:
        raise ValueError(f"text-mode status report has {len(fields)} fields, expected 7: {urc.line!r}")
    status = int(fields[-1])
    return StatusReport(int(fields[1]), fields[2], status, delivery_state(status))


def stored_pdu_kind(pdu_hex: str, tpdu_length: int) -> str:
    """``deliver``, ``report`` or ``submit``, from the message type of a stored PDU (with or without SCA)."""
    data = bytes.fromhex(pdu_hex.strip())
    offset = 0 if len(data) == tpdu_length else data[0] + 1
    if offset >= len(data):
        raise ValueError(f"stored PDU too short: {pdu_hex[:40]!r}")
    return {0: "deliver", 1: "submit", 2: "report"}.get(data[offset] & 0b11, "unknown")


def parse_listing(lines: list[str]) -> list[tuple[int | None, int, str]]:
    """(index, TPDU length, PDU hex) from ``+CMGR``/``+CMGL`` lines in PDU mode (index None for CMGR)."""
    entries: list[tuple[int | None, int, str]] = []
    for header, pdu_hex in zip(lines[0::2], lines[1::2], strict=False):
        fields = header.partition(":")[2].split(",")
        index = int(fields[0]) if header.startswith("+CMGL") else None
        entries.append((index, int(fields[-1]), pdu_hex.strip()))
    return entries


def parse_direct_deliver(urc: Unsolicited) -> DecodedDeliver | InboundText:
    """A ``+CMT`` routed straight to us (CNMI mt=2): a PDU in PDU mode, header fields and text in text mode."""
    value = urc.line.partition(":")[2].strip()
    data = urc.data or ""
    fields = next(csv.reader([value]))
    if fields and fields[-1].strip().isdigit() and len(fields) == 2:
        return decode_deliver_pdu(data, tpdu_length=int(fields[-1]))
    sender = fields[0] if fields else ""
    stamp = _parse_text_time(fields[2]) if len(fields) > 2 else datetime.now(UTC)
    raw = data.encode("latin-1")
    try:
        text = gsm7_decode(raw)
    except ValueError:
        text = data
    return InboundText(sender, text, stamp)


@dataclass(frozen=True, slots=True)
class InboundText:
    sender: str
    text: str
    timestamp: datetime


def _parse_text_time(value: str) -> datetime:
    """``yy/MM/dd,hh:mm:ss±zz`` (zone in quarter hours) as used by text-mode answers."""
    stamp, zone = value[:17], value[17:]
    moment = datetime.strptime(stamp, "%y/%m/%d,%H:%M:%S")
    quarters = int(zone) if zone.lstrip("+-").isdigit() else 0
    return moment.replace(tzinfo=timezone(timedelta(minutes=15 * quarters)))


@dataclass
class _Partial:
    parts: dict[int, DecodedDeliver] = field(default_factory=dict)
    indices: list[int] = field(default_factory=list)
    first_seen: float = 0.0


class InboundAssembler:
    """Joins the parts of concatenated replies; storage indices are kept so parts are deleted from the SIM
    only once the whole message has been handed on (a restart then finds them again)."""

    def __init__(self, channel: str, part_timeout: float) -> None:
        self.channel = channel
        self.part_timeout = part_timeout
        self._partials: dict[tuple[str, int, int], _Partial] = {}

    def add(
        self, deliver: DecodedDeliver, index: int | None, now: float
    ) -> tuple[InboundMessage, list[int]] | None:
        own = [index] if index is not None else []
        concat = deliver.concat
        if concat is None or concat.total <= 1:
            return self._message(deliver.sender, deliver.text, deliver.timestamp), own
        key = (deliver.sender, concat.reference, concat.total)
        partial = self._partials.setdefault(key, _Partial(first_seen=now))
        partial.parts[concat.sequence] = deliver
        partial.indices.extend(own)
        if len(partial.parts) < concat.total:
            return None
        del self._partials[key]
        text = reassemble_text(partial.parts.values())
        return self._message(deliver.sender, text, partial.parts[1].timestamp), partial.indices

    def expired(self, now: float) -> list[tuple[InboundMessage, list[int]]]:
        """Messages whose missing parts never came: handed on as they are, marked, rather than lost."""
        out: list[tuple[InboundMessage, list[int]]] = []
        for key, partial in list(self._partials.items()):
            if now - partial.first_seen < self.part_timeout:
                continue
            del self._partials[key]
            sender, _, total = key
            have = sorted(partial.parts)
            text = reassemble_text(partial.parts.values())
            marker = f"[incomplete: parts {','.join(map(str, have))} of {total}] "
            first = partial.parts[have[0]]
            out.append((self._message(sender, marker + text, first.timestamp), partial.indices))
        return out

    def _message(self, sender: str, text: str, timestamp: datetime) -> InboundMessage:
        return InboundMessage(
            channel=self.channel, sender=sender, text=text, received_at=timestamp.astimezone(UTC)
        )


@dataclass
class _Tracked:
    provider_id: str
    states: dict[int, DeliveryState]
    done: bool = False


class ReceiptTracker:
    """Turns status reports into :class:`Receipt` objects, gathering the parts of a message."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._by_part: OrderedDict[tuple[int, str], _Tracked] = OrderedDict()

    def sent(self, modem_id: str, references: list[int], recipient: str) -> str:
        """Remember a submitted message's parts; returns its provider id (that of the first part)."""
        digits = digits_of(recipient)
        tracked = _Tracked(
            provider_id(modem_id, references[0], recipient), dict.fromkeys(references, "pending")
        )
        if len(references) > 1:
            for reference in references:
                self._by_part[(reference, digits)] = tracked
            while len(self._by_part) > _MAX_TRACKED:
                self._by_part.popitem(last=False)
        return tracked.provider_id

    def report(self, modem_id: str, report: StatusReport) -> Receipt | None:
        key = (report.reference, digits_of(report.recipient))
        tracked = self._by_part.get(key)
        if tracked is None:
            if report.state == "pending":
                return None
            return self._receipt(provider_id(modem_id, report.reference, report.recipient), report)
        if tracked.done:
            return None
        tracked.states[report.reference] = report.state
        states = set(tracked.states.values())
        if "failed" in states or states == {"delivered"}:
            tracked.done = True
            return self._receipt(tracked.provider_id, report)
        return None

    def _receipt(self, provider: str, report: StatusReport) -> Receipt:
        delivered = report.state == "delivered"
        error = None
        if not delivered:
            error = f"TP-ST 0x{report.status:02X}: {_TP_ST_TEXT.get(report.status, 'delivery failed')}"
        return Receipt(
            channel=self.channel,
            provider_ids=(provider,),
            delivered=delivered,
            status=f"TP-ST 0x{report.status:02X}",
            error=error,
        )
