"""SMS PDUs for GSM modems in PDU mode (3GPP TS 23.040 / TS 27.005): SMS-SUBMIT out, SMS-DELIVER and
SMS-STATUS-REPORT in, plus builders for the latter two so the modem simulator speaks the same bytes.

PDU mode rather than text mode because it is the portable way to send UCS-2 and concatenated messages, and
the only way to ask for a status report per part. Hex strings are upper case, as modems print them.

A PDU handed to ``AT+CMGS`` starts with the service centre address (SCA); ``tpdu_length`` is the octet
count without it, the number ``AT+CMGS=<len>`` wants. Decoders expect the SCA too, unless told the TPDU
length and the hex turns out to be exactly that long (some modems report ``+CDS`` without it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alertcast.core.pdu_fields import (
    Alphabet,
    ConcatInfo,
    PduReader,
    decode_address,
    decode_service_centre,
    decode_text,
    decode_timestamp,
    encode_address,
    encode_service_centre,
    encode_timestamp,
    parse_hex,
    read_user_data,
    relative_validity_octet,
    validity_minutes,
    write_user_data,
)
from alertcast.core.sms import SmsPlan, concat_udh, plan_sms

__all__ = [
    "ConcatInfo",
    "DecodedDeliver",
    "DecodedStatusReport",
    "DecodedSubmit",
    "DeliveryState",
    "EncodedPdu",
    "SubmitPdu",
    "build_deliver_pdu",
    "build_deliver_pdus",
    "build_status_report_pdu",
    "build_submit_pdus",
    "decode_deliver_pdu",
    "decode_status_report_pdu",
    "decode_submit_pdu",
    "delivery_state",
    "reassemble_text",
]

# First-octet bits (TS 23.040 §9.2.3).
_MTI_MASK = 0b11
_MTI_DELIVER = 0b00
_MTI_SUBMIT = 0b01
_MTI_STATUS_REPORT = 0b10
_REJECT_DUPLICATES = 0x04
_NO_MORE_MESSAGES = 0x04
_VPF_MASK = 0x18
_VPF_RELATIVE = 0x10
_STATUS_REPORT = 0x20
_UDHI = 0x40
_PID_DEFAULT = 0x00

DeliveryState = Literal["delivered", "pending", "failed"]


@dataclass(frozen=True, slots=True)
class EncodedPdu:
    hex: str
    tpdu_length: int
    """Octets after the SCA: the ``<length>`` of ``AT+CMGS``, ``+CMT`` and ``+CDS``."""


SubmitPdu = EncodedPdu


@dataclass(frozen=True, slots=True)
class DecodedSubmit:
    number: str
    text: str
    concat: ConcatInfo | None
    status_report_requested: bool
    dcs: int
    alphabet: Alphabet
    payload: bytes
    message_reference: int
    validity_minutes: int | None
    """Relative validity in minutes; None when absent or given in another format."""
    smsc: str | None


@dataclass(frozen=True, slots=True)
class DecodedDeliver:
    sender: str
    text: str
    timestamp: datetime
    concat: ConcatInfo | None
    dcs: int
    alphabet: Alphabet
    payload: bytes
    smsc: str | None


@dataclass(frozen=True, slots=True)
class DecodedStatusReport:
    message_reference: int
    recipient: str
    status: int
    state: DeliveryState
    service_centre_time: datetime
    discharge_time: datetime
    smsc: str | None


def delivery_state(status: int) -> DeliveryState:
    """What a TP-ST value means for the delivery (TS 23.040 §9.2.3.15).

    0x00–0x1F: the transaction completed (delivered, or forwarded without confirmation); 0x20–0x3F: a
    temporary error and the service centre is still trying; 0x40–0x7F: a permanent error, or a temporary
    one the centre has given up on. Reserved values count as failure, as the standard asks.
    """
    if not 0 <= status <= 0xFF:
        raise ValueError(f"TP-ST must be one octet, got {status}")
    if status <= 0x1F:
        return "delivered"
    if status <= 0x3F:
        return "pending"
    return "failed"


def _finish(sca: bytes, tpdu: bytes) -> EncodedPdu:
    return EncodedPdu(hex=(sca + tpdu).hex().upper(), tpdu_length=len(tpdu))


def build_submit_pdus(
    number: str,
    plan: SmsPlan,
    *,
    reference: int,
    status_report: bool,
    validity_minutes: int | None,
    smsc: str | None = None,
) -> list[SubmitPdu]:
    """One SMS-SUBMIT per part of ``plan``, ready for ``AT+CMGS``.

    ``reference`` (0..255) ties the parts of one message together in the concatenation header; use a
    different one for each multi-part message to the same recipient. TP-MR is 0: the modem assigns it.
    """
    if not 0 <= reference <= 0xFF:
        raise ValueError(f"concatenation reference must be 0..255, got {reference}")
    destination = encode_address(number)
    sca = encode_service_centre(smsc)
    first = _MTI_SUBMIT
    if validity_minutes is not None:
        first |= _VPF_RELATIVE
    if status_report:
        first |= _STATUS_REPORT
    total = plan.segments
    if total > 1:
        first |= _UDHI
    validity = b"" if validity_minutes is None else bytes((relative_validity_octet(validity_minutes),))
    pdus: list[SubmitPdu] = []
    for sequence, part in enumerate(plan.parts, start=1):
        header = concat_udh(reference, total, sequence)[1:] if total > 1 else b""
        user_data = write_user_data(part.payload, plan.encoding, header)
        tpdu = (
            bytes((first, 0x00))
            + destination
            + bytes((_PID_DEFAULT, plan.data_coding))
            + validity
            + user_data
        )
        pdus.append(_finish(sca, tpdu))
    return pdus


def _reader(hex_text: str, kind: str, tpdu_length: int | None) -> tuple[PduReader, str | None]:
    data = parse_hex(hex_text, kind)
    reader = PduReader(data, kind)
    if tpdu_length is not None and len(data) == tpdu_length:
        return reader, None
    smsc = decode_service_centre(reader)
    if tpdu_length is not None and len(reader.rest()) != tpdu_length:
        raise ValueError(
            f"{kind} PDU has {len(reader.rest())} octets after the SCA but its stated length is {tpdu_length}"
        )
    return reader, smsc


def _expect_type(first: int, expected: int, kind: str) -> None:
    if first & _MTI_MASK != expected:
        raise ValueError(
            f"not an {kind} PDU: first octet 0x{first:02X} has message type {first & _MTI_MASK:02b}, "
            f"expected {expected:02b}"
        )


def decode_submit_pdu(hex_text: str, *, tpdu_length: int | None = None) -> DecodedSubmit:
    """Read an SMS-SUBMIT as a modem receives it after ``AT+CMGS`` (the simulator's view)."""
    kind = "SMS-SUBMIT"
    reader, smsc = _reader(hex_text, kind, tpdu_length)
    first = reader.octet("first octet")
    _expect_type(first, _MTI_SUBMIT, kind)
    message_reference = reader.octet("TP-MR")
    number = decode_address(reader, "TP-DA")
    reader.octet("TP-PID")
    dcs = reader.octet("TP-DCS")
    validity: int | None = None
    validity_format = first & _VPF_MASK
    if validity_format == _VPF_RELATIVE:
        validity = validity_minutes(reader.octet("TP-VP"))
    elif validity_format:
        reader.take(7, "TP-VP")
    user_data = read_user_data(reader, dcs, bool(first & _UDHI))
    return DecodedSubmit(
        number=number,
        text=user_data.text,
        concat=user_data.concat,
        status_report_requested=bool(first & _STATUS_REPORT),
        dcs=dcs,
        alphabet=user_data.alphabet,
        payload=user_data.payload,
        message_reference=message_reference,
        validity_minutes=validity,
        smsc=smsc,
    )


def decode_deliver_pdu(hex_text: str, *, tpdu_length: int | None = None) -> DecodedDeliver:
    """Read an SMS-DELIVER (a reply or any inbound message) from ``+CMT`` or ``+CMGR``."""
    kind = "SMS-DELIVER"
    reader, smsc = _reader(hex_text, kind, tpdu_length)
    first = reader.octet("first octet")
    _expect_type(first, _MTI_DELIVER, kind)
    sender = decode_address(reader, "TP-OA")
    reader.octet("TP-PID")
    dcs = reader.octet("TP-DCS")
    timestamp = decode_timestamp(reader, "TP-SCTS")
    user_data = read_user_data(reader, dcs, bool(first & _UDHI))
    return DecodedDeliver(
        sender=sender,
        text=user_data.text,
        timestamp=timestamp,
        concat=user_data.concat,
        dcs=dcs,
        alphabet=user_data.alphabet,
        payload=user_data.payload,
        smsc=smsc,
    )


def decode_status_report_pdu(hex_text: str, *, tpdu_length: int | None = None) -> DecodedStatusReport:
    """Read an SMS-STATUS-REPORT from ``+CDS``; the optional fields after TP-ST are not needed and ignored."""
    kind = "SMS-STATUS-REPORT"
    reader, smsc = _reader(hex_text, kind, tpdu_length)
    first = reader.octet("first octet")
    _expect_type(first, _MTI_STATUS_REPORT, kind)
    message_reference = reader.octet("TP-MR")
    recipient = decode_address(reader, "TP-RA")
    service_centre_time = decode_timestamp(reader, "TP-SCTS")
    discharge_time = decode_timestamp(reader, "TP-DT")
    status = reader.octet("TP-ST")
    return DecodedStatusReport(
        message_reference=message_reference,
        recipient=recipient,
        status=status,
        state=delivery_state(status),
        service_centre_time=service_centre_time,
        discharge_time=discharge_time,
        smsc=smsc,
    )


def build_deliver_pdu(
    sender: str,
    plan: SmsPlan,
    *,
    timestamp: datetime,
    part: int = 1,
    reference: int = 0,
    smsc: str | None = None,
) -> EncodedPdu:
    """SMS-DELIVER for part ``part`` (1-based) of ``plan``, as a network would hand it to a handset.

    ``sender`` may be a number or an alphanumeric name. The simulator uses this to inject replies.
    """
    if not 1 <= part <= plan.segments:
        raise ValueError(f"part must be 1..{plan.segments}, got {part}")
    first = _MTI_DELIVER | _NO_MORE_MESSAGES
    header = b""
    if plan.segments > 1:
        first |= _UDHI
        header = concat_udh(reference, plan.segments, part)[1:]
    tpdu = (
        bytes((first,))
        + encode_address(sender, allow_alphanumeric=True)
        + bytes((_PID_DEFAULT, plan.data_coding))
        + encode_timestamp(timestamp)
        + write_user_data(plan.parts[part - 1].payload, plan.encoding, header)
    )
    return _finish(encode_service_centre(smsc), tpdu)


def build_deliver_pdus(
    sender: str, text: str, *, timestamp: datetime, reference: int = 0, smsc: str | None = None
) -> list[EncodedPdu]:
    """Every SMS-DELIVER part of ``text``."""
    plan = plan_sms(text)
    return [
        build_deliver_pdu(sender, plan, timestamp=timestamp, part=part, reference=reference, smsc=smsc)
        for part in range(1, plan.segments + 1)
    ]


def build_status_report_pdu(
    message_reference: int,
    recipient: str,
    status: int,
    *,
    service_centre_time: datetime,
    discharge_time: datetime,
    smsc: str | None = None,
) -> EncodedPdu:
    """SMS-STATUS-REPORT for the SMS-SUBMIT that got ``message_reference`` (the ``+CMGS`` value)."""
    if not 0 <= message_reference <= 0xFF:
        raise ValueError(f"message reference must be 0..255, got {message_reference}")
    delivery_state(status)
    tpdu = (
        bytes((_MTI_STATUS_REPORT | _NO_MORE_MESSAGES, message_reference))
        + encode_address(recipient)
        + encode_timestamp(service_centre_time)
        + encode_timestamp(discharge_time)
        + bytes((status,))
    )
    return _finish(encode_service_centre(smsc), tpdu)


def reassemble_text(parts: Iterable[DecodedDeliver | DecodedSubmit]) -> str:
    """The whole text of a concatenated message from its parts, in any order.

    Payloads are joined before decoding so a character a sender's phone split across two parts (a
    surrogate pair, an escape sequence) comes back whole. All parts must share one alphabet and reference.
    """
    ordered = sorted(parts, key=lambda part: part.concat.sequence if part.concat else 0)
    if not ordered:
        return ""
    alphabets = {part.alphabet for part in ordered}
    references = {part.concat.reference if part.concat else None for part in ordered}
    if len(alphabets) > 1 or len(references) > 1:
        raise ValueError(f"parts do not belong together: alphabets {alphabets}, references {references}")
    return decode_text(ordered[0].alphabet, b"".join(part.payload for part in ordered))
