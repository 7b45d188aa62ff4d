"""SMPP 3.4 wire format for the simulator: framing, the few PDU bodies a server reads, and the ones it writes.

A server needs things smpplib's client-side classes do not give it: a garbled length must turn into a
``generic_nack`` rather than an exception deep in a parser, a malformed body into the status code an SMSC
would answer with, and the codec must be fast enough that the simulator is never what a benchmark measures.
So the simulator has this small struct-based codec; the channel keeps smpplib, and the two meeting on the
wire is itself a test of both.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from alertcast.core.sms import ConcatInfo
from alertcast.core.sms import split_udh as core_split_udh

HEADER = struct.Struct(">IIII")
HEADER_SIZE = HEADER.size
MAX_PDU_LENGTH = 64 * 1024
"""No real SMPP PDU comes near this; a larger length means the stream is garbage."""

# Command ids (SMPP 3.4 §5.1.2.1).
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
RESPONSE_BIT = 0x80000000

BIND_COMMANDS = {BIND_RECEIVER: "rx", BIND_TRANSMITTER: "tx", BIND_TRANSCEIVER: "trx"}

# Command status values (SMPP 3.4 §5.1.3) the simulator answers with.
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58

STATUS_NAMES = {
    ESME_ROK: "ESME_ROK",
    ESME_RINVMSGLEN: "ESME_RINVMSGLEN",
    ESME_RINVCMDLEN: "ESME_RINVCMDLEN",
    ESME_RINVCMDID: "ESME_RINVCMDID",
    ESME_RINVBNDSTS: "ESME_RINVBNDSTS",
    ESME_RALYBND: "ESME_RALYBND",
    ESME_RSYSERR: "ESME_RSYSERR",
    ESME_RINVSRCADR: "ESME_RINVSRCADR",
    ESME_RINVDSTADR: "ESME_RINVDSTADR",
    ESME_RBINDFAIL: "ESME_RBINDFAIL",
    ESME_RINVPASWD: "ESME_RINVPASWD",
    ESME_RINVSYSID: "ESME_RINVSYSID",
    ESME_RMSGQFUL: "ESME_RMSGQFUL",
    ESME_RTHROTTLED: "ESME_RTHROTTLED",
}

# Optional parameter tags (SMPP 3.4 §5.3.2).
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_SC_INTERFACE_VERSION = 0x0210
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_NETWORK_ERROR_CODE = 0x0423
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427

ESM_CLASS_UDHI = 0x40
ESM_CLASS_DELIVERY_RECEIPT = 0x04

# message_state values (SMPP 3.4 §5.2.28).
STATE_DELIVERED = 2
STATE_UNDELIVERABLE = 5


class PduError(Exception):
    """A PDU body the simulator cannot accept, with the status an SMSC answers it with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Header:
    length: int
    command_id: int
    status: int
    sequence: int


def encode(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    return HEADER.pack(HEADER_SIZE + len(body), command_id, status, sequence) + body


def encode_cstring(value: str) -> bytes:
    return value.encode("latin-1") + b"\x00"


def encode_tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


class BodyReader:
    """Reads a PDU body field by field, raising :class:`PduError` with the status a field's fault earns."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def cstring(self, name: str, max_size: int, status: int = ESME_RSYSERR) -> str:
        """A NUL-terminated field of at most ``max_size`` octets, NUL included."""
        end = self.body.find(b"\x00", self.pos, self.pos + max_size)
        if end < 0:
            raise PduError(status, f"field {name}: no NUL terminator within {max_size} octets")
        value = self.body[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return value

    def octet(self, name: str) -> int:
        if self.pos >= len(self.body):
            raise PduError(ESME_RINVMSGLEN, f"field {name}: body ends at octet {self.pos}")
        value = self.body[self.pos]
        self.pos += 1
        return value

    def octets(self, name: str, count: int) -> bytes:
        if self.pos + count > len(self.body):
            raise PduError(ESME_RINVMSGLEN, f"field {name}: needs {count} octets, body ends first")
        value = self.body[self.pos : self.pos + count]
        self.pos += count
        return value

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while self.pos < len(self.body):
            if self.pos + 4 > len(self.body):
                raise PduError(ESME_RSYSERR, f"truncated optional parameter header at octet {self.pos}")
            tag, size = struct.unpack_from(">HH", self.body, self.pos)
            self.pos += 4
            found[tag] = self.octets(f"optional parameter 0x{tag:04X}", size)
        return found


@dataclass(frozen=True, slots=True)
class BindRequest:
    mode: str
    system_id: str
    password: str
    system_type: str
    interface_version: int


def parse_bind(command_id: int, body: bytes) -> BindRequest:
    reader = BodyReader(body)
    system_id = reader.cstring("system_id", 16, ESME_RINVSYSID)
    password = reader.cstring("password", 9, ESME_RINVPASWD)
    system_type = reader.cstring("system_type", 13)
    interface_version = reader.octet("interface_version")
    return BindRequest(BIND_COMMANDS[command_id], system_id, password, system_type, interface_version)


@dataclass(frozen=True, slots=True)
class SubmitSm:
    source_addr: str
    destination_addr: str
    esm_class: int
    priority_flag: int
    validity_period: str
    registered_delivery: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def payload(self) -> bytes:
        """The user data: ``short_message``, or the ``message_payload`` TLV when the ESME used that."""
        return self.short_message or self.tlvs.get(TAG_MESSAGE_PAYLOAD, b"")


def parse_submit_sm(body: bytes) -> SubmitSm:
    reader = BodyReader(body)
    reader.cstring("service_type", 6)
    reader.octet("source_addr_ton")
    reader.octet("source_addr_npi")
    source = reader.cstring("source_addr", 21, ESME_RINVSRCADR)
    reader.octet("dest_addr_ton")
    reader.octet("dest_addr_npi")
    destination = reader.cstring("destination_addr", 21, ESME_RINVDSTADR)
    esm_class = reader.octet("esm_class")
    reader.octet("protocol_id")
    priority_flag = reader.octet("priority_flag")
    reader.cstring("schedule_delivery_time", 17)
    validity_period = reader.cstring("validity_period", 17)
    registered_delivery = reader.octet("registered_delivery")
    reader.octet("replace_if_present_flag")
    data_coding = reader.octet("data_coding")
    reader.octet("sm_default_msg_id")
    sm_length = reader.octet("sm_length")
    short_message = reader.octets("short_message", sm_length)
    tlvs = reader.tlvs()
    return SubmitSm(
        source_addr=source,
        destination_addr=destination,
        esm_class=esm_class,
        priority_flag=priority_flag,
        validity_period=validity_period,
        registered_delivery=registered_delivery,
        data_coding=data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )


def encode_deliver_sm_body(
    *,
    source_addr: str,
    destination_addr: str,
    esm_class: int,
    data_coding: int,
    short_message: bytes,
    tlvs: bytes = b"",
) -> bytes:
    """A deliver_sm body: international numbers (TON 1, NPI 1) unless the address has letters (TON 5)."""
    source_ton = 5 if not source_addr.isdigit() else 1
    return b"".join(
        (
            encode_cstring(""),  # service_type
            bytes((source_ton, 1 if source_ton == 1 else 0)),
            encode_cstring(source_addr),
            bytes((1, 1)),
            encode_cstring(destination_addr),
            bytes((esm_class, 0, 0)),  # esm_class, protocol_id, priority_flag
            encode_cstring(""),  # schedule_delivery_time
            encode_cstring(""),  # validity_period
            bytes((0, 0, data_coding, 0, len(short_message))),
            short_message,
            tlvs,
        )
    )


Concatenation = ConcatInfo


def split_udh(user_data: bytes) -> tuple[ConcatInfo | None, bytes]:
    """Concatenation element and payload; a malformed header is the client's error (ESME_RINVMSGLEN)."""
    try:
        return core_split_udh(user_data)
    except ValueError as exc:
        raise PduError(ESME_RINVMSGLEN, str(exc)) from None
