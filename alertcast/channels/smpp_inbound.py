"""Reading a deliver_sm: a delivery receipt, or a message from a phone (possibly one part of several)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from alertcast.channels.base import InboundMessage
from alertcast.channels.smpp_receipts import RawReceipt, parse_receipt
from alertcast.channels.smpp_wire import Concatenation, MoAssembler, split_udh

log = logging.getLogger(__name__)

MESSAGE_TYPE_MASK = 0x3C
RECEIPT_TYPES = frozenset({0x04, 0x20})
"""esm_class message types carrying a delivery state: SMSC delivery receipt, intermediate notification."""
ESM_CLASS_UDHI = 0x40


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value or ""


def _number(address: bytes | str | None, ton: int | None) -> str:
    text = _text(address)
    return f"+{text}" if ton == 1 and text.isdigit() else text


def read_deliver_sm(
    pdu: Any, assembler: MoAssembler, channel: str, label: str
) -> RawReceipt | InboundMessage | None:
    """What an smpplib ``deliver_sm`` carries; None for a receipt that cannot be read (logged) or for a part
    of a concatenated message still waiting for the others."""
    esm_class = pdu.esm_class or 0
    payload: bytes = pdu.short_message or pdu.message_payload or b""
    if esm_class & MESSAGE_TYPE_MASK in RECEIPT_TYPES:
        try:
            return parse_receipt(payload, pdu.receipted_message_id, pdu.message_state, pdu.network_error_code)
        except ValueError as error:
            log.warning("SMPP %s: unreadable delivery receipt: %s", label, error)
            return None
    sender = _number(pdu.source_addr, pdu.source_addr_ton)
    recipient = _number(pdu.destination_addr, pdu.dest_addr_ton)
    concat: Concatenation | None = None
    if esm_class & ESM_CLASS_UDHI:
        concat, payload = split_udh(payload)
    elif pdu.sar_total_segments and pdu.sar_segment_seqnum and pdu.sar_msg_ref_num is not None:
        concat = Concatenation(pdu.sar_msg_ref_num, pdu.sar_total_segments, pdu.sar_segment_seqnum)
    text = assembler.add(sender, recipient, pdu.data_coding or 0, concat, payload)
    if text is None:
        return None
    return InboundMessage(channel, sender, text, datetime.now(UTC), recipient or None)
