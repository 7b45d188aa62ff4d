"""The hot path's PDUs without smpplib's generic machinery, byte for byte what smpplib would produce.

smpplib builds a PDU by setting and walking every one of its ~45 known fields: 120 µs for a submit_sm and
as much to parse a receipt, which alone capped a bind near 2,000 messages a second with receipts flowing.
The four PDUs that carry every message (submit_sm out; submit_sm_resp, deliver_sm in; deliver_sm_resp out)
are done here with ``struct`` instead. smpplib remains the reference: tests check that these encoders give
exactly smpplib's bytes and that the decoder reads exactly smpplib's fields, and any deliver_sm this
decoder does not fully understand is handed to smpplib's parser instead.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

HEADER = struct.Struct(">IIII")
RESPONSE_BIT = 0x80000000
GENERIC_NACK = 0x80000000
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
ENQUIRE_LINK = 0x00000015
ESME_ROK = 0

# Optional parameters the inbound reader uses: tag → (attribute, kind).
_TLVS: dict[int, tuple[str, str]] = {
    0x001E: ("receipted_message_id", "cstring"),
    0x0427: ("message_state", "int"),
    0x0423: ("network_error_code", "octets"),
    0x0424: ("message_payload", "octets"),
    0x020C: ("sar_msg_ref_num", "int"),
    0x020E: ("sar_total_segments", "int"),
    0x020F: ("sar_segment_seqnum", "int"),
}


def _cstring(value: str | None, max_size: int) -> bytes:
    """As smpplib writes a C-octet string: Latin-1, cut to ``max_size - 1`` octets, NUL-terminated."""
    if not value:
        return b"\x00"
    return value[: max_size - 1].encode("latin-1") + b"\x00"


def encode_submit_sm(sequence: int, fields: dict[str, Any]) -> bytes:
    """A submit_sm from the same fields ``smpplib.smpp.make_pdu("submit_sm", ...)`` takes (the subset
    :func:`smpp_outgoing.prepare` fills); raises ValueError for what smpplib would choke on."""
    short_message: bytes = fields.get("short_message") or b""
    if len(short_message) > 254:
        raise ValueError(f"short_message of {len(short_message)} octets; SMPP allows 254")
    body = b"".join(
        (
            _cstring(fields.get("service_type"), 6),
            bytes((fields.get("source_addr_ton") or 0, fields.get("source_addr_npi") or 0)),
            _cstring(fields.get("source_addr"), 21),
            bytes((fields.get("dest_addr_ton") or 0, fields.get("dest_addr_npi") or 0)),
            _cstring(fields.get("destination_addr"), 21),
            bytes(
                (
                    fields.get("esm_class") or 0,
                    fields.get("protocol_id") or 0,
                    fields.get("priority_flag") or 0,
                )
            ),
            _cstring(fields.get("schedule_delivery_time"), 17),
            _cstring(fields.get("validity_period"), 17),
            bytes(
                (
                    fields.get("registered_delivery") or 0,
                    fields.get("replace_if_present_flag") or 0,
                    fields.get("data_coding") or 0,
                    fields.get("sm_default_msg_id") or 0,
                    len(short_message),
                )
            ),
            short_message,
        )
    )
    return HEADER.pack(16 + len(body), SUBMIT_SM, ESME_ROK, sequence) + body


def encode_pdu(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    """Any PDU from its header fields and body (enquire_link, unbind, their responses, generic_nack)."""
    return HEADER.pack(16 + len(body), command_id, status, sequence) + body


def encode_deliver_sm_resp(sequence: int, status: int = ESME_ROK) -> bytes:
    """As smpplib writes it: the (unused) message_id field is present, empty."""
    return encode_pdu(DELIVER_SM_RESP, status, sequence, b"\x00")


def submit_sm_resp_message_id(raw: bytes) -> bytes:
    """The message_id of a submit_sm_resp frame (empty when the SMSC sent no body, as on errors)."""
    end = raw.find(b"\x00", 16)
    return raw[16:end] if end >= 0 else raw[16:]


class Unusual(ValueError):
    """A deliver_sm this decoder leaves to smpplib."""


@dataclass(slots=True)
class DeliverSm:
    """The fields of a deliver_sm the channel reads, named as smpplib names them (bytes for strings)."""

    sequence: int
    source_addr_ton: int
    source_addr: bytes
    dest_addr_ton: int
    destination_addr: bytes
    esm_class: int
    data_coding: int
    short_message: bytes
    receipted_message_id: bytes | None = None
    message_state: int | None = None
    network_error_code: bytes | None = None
    message_payload: bytes | None = None
    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None


def decode_deliver_sm(raw: bytes) -> DeliverSm:
    """Read a deliver_sm frame; raises :class:`Unusual` for anything not plainly well-formed."""
    pos = 16

    def cstring(max_size: int) -> bytes:
        nonlocal pos
        end = raw.find(b"\x00", pos, pos + max_size)
        if end < 0:
            raise Unusual("unterminated C-octet string")
        value, pos = raw[pos:end], end + 1
        return value

    def octets(count: int) -> bytes:
        nonlocal pos
        if pos + count > len(raw):
            raise Unusual("body shorter than its fields")
        value, pos = raw[pos : pos + count], pos + count
        return value

    cstring(6)  # service_type
    source_ton = octets(2)[0]
    source = cstring(21)
    dest_ton = octets(2)[0]
    destination = cstring(21)
    esm_class = octets(3)[0]  # esm_class, protocol_id, priority_flag
    cstring(17)  # schedule_delivery_time
    cstring(17)  # validity_period
    flags = octets(
        5
    )  # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length
    pdu = DeliverSm(
        sequence=HEADER.unpack_from(raw)[3],
        source_addr_ton=source_ton,
        source_addr=source,
        dest_addr_ton=dest_ton,
        destination_addr=destination,
        esm_class=esm_class,
        data_coding=flags[2],
        short_message=octets(flags[4]),
    )
    while pos < len(raw):
        tag, size = struct.unpack_from(">HH", raw, pos) if pos + 4 <= len(raw) else (None, 0)
        if tag is None:
            raise Unusual("truncated optional parameter")
        pos += 4
        value = octets(size)
        known = _TLVS.get(tag)
        if known is None:
            continue  # vendor or unused parameter: skipped, as allow_unknown_opt_params does
        name, kind = known
        if kind == "int":
            setattr(pdu, name, int.from_bytes(value, "big"))
        elif kind == "cstring":
            setattr(pdu, name, value.rstrip(b"\x00"))
        else:
            setattr(pdu, name, value)
    return pdu
