"""SMPP details the channel decides on its own: which errors are worth a retry, how addresses, priorities and
expiry times go on the wire, and how incoming short messages are decoded and put back together.

The status table is the channel's contract with the engine (see docs/smpp.md): a permanent error means the
same submit can never succeed on this route (so the engine may fall back at once), a temporary one means try
again later, and throttling is flow control that never costs the message an attempt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from smpplib import consts

from alertcast.channels.base import Outcome
from alertcast.core.sms import ConcatInfo, gsm7_decode
from alertcast.core.sms import split_udh as core_split_udh

ESME_ROK = consts.SMPP_ESME_ROK
THROTTLING = frozenset({consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL})
"""Answers that mean "slower", not "failed": the part is sent again at a reduced rate."""

PERMANENT = frozenset(
    {
        consts.SMPP_ESME_RINVMSGLEN,
        consts.SMPP_ESME_RINVPRTFLG,
        consts.SMPP_ESME_RINVREGDLVFLG,
        consts.SMPP_ESME_RINVSRCADR,
        consts.SMPP_ESME_RINVDSTADR,
        consts.SMPP_ESME_RINVSERTYP,
        consts.SMPP_ESME_RINVESMCLASS,
        consts.SMPP_ESME_RINVSRCTON,
        consts.SMPP_ESME_RINVSRCNPI,
        consts.SMPP_ESME_RINVDSTTON,
        consts.SMPP_ESME_RINVDSTNPI,
        consts.SMPP_ESME_RINVSCHED,
        consts.SMPP_ESME_RINVEXPIRY,
        consts.SMPP_ESME_RX_P_APPN,
        consts.SMPP_ESME_RX_R_APPN,
        consts.SMPP_ESME_RINVOPTPARSTREAM,
        consts.SMPP_ESME_ROPTPARNOTALLWD,
        consts.SMPP_ESME_RINVPARLEN,
        consts.SMPP_ESME_RMISSINGOPTPARAM,
        consts.SMPP_ESME_RINVOPTPARAMVAL,
        0x104,  # ESME_RINVDCS (SMPP 5.0): the SMSC cannot carry this data_coding
    }
)
"""Errors that no retry of the same submit can cure. Everything else (ESME_RSYSERR, ESME_RSUBMITFAIL,
ESME_RX_T_APPN, vendor codes 0x400-0x4FF, unknown codes) is treated as temporary: for an alert, one retry too
many costs less than a recipient given up on too early, and the engine's attempt limit bounds it."""

CREDENTIAL_ERRORS = frozenset({consts.SMPP_ESME_RINVPASWD, consts.SMPP_ESME_RINVSYSID})
"""Bind refusals that no reconnect cures until someone changes the configuration: retried only slowly."""

_STATUS_NAMES = {
    value: name.removeprefix("SMPP_")
    for name, value in vars(consts).items()
    if name.startswith("SMPP_ESME_") and isinstance(value, int)
}
_STATUS_NAMES[0x104] = "ESME_RINVDCS"


def describe_status(status: int) -> str:
    """``ESME_RINVDSTADR (0x0B): Invalid Destination Address`` — what a person reads in a result."""
    name = _STATUS_NAMES.get(
        status, "vendor-specific status" if 0x400 <= status <= 0x4FF else "unknown status"
    )
    description = consts.DESCRIPTIONS.get(status)
    text = f"{name} (0x{status:02X})"
    return f"{text}: {description}" if description and description != "<Desc Not Set>" else text


def outcome_for_status(status: int) -> Outcome:
    """RETRY or FAILED for an error answer to submit_sm (never called for ESME_ROK or throttling)."""
    return Outcome.FAILED if status in PERMANENT else Outcome.RETRY


@dataclass(frozen=True, slots=True)
class Address:
    digits: str
    ton: int
    npi: int


def destination_address(address: str) -> Address:
    """An E.164 ``+number`` goes as TON 1 (international) NPI 1; bare digits as TON 0 (unknown) NPI 1."""
    cleaned = address.strip().replace(" ", "")
    international = cleaned.startswith("+")
    digits = cleaned[1:] if international else cleaned
    if not digits.isdigit() or not 1 <= len(digits) <= 20:
        raise ValueError(f"address {address!r} is not a phone number (digits with an optional leading '+')")
    return Address(digits, 1 if international else 0, 1)


def source_address(source: str, ton: int | None, npi: int | None) -> Address:
    """The sender as configured; TON/NPI derived when not set: international, short code or alphanumeric."""
    if not source:
        return Address("", ton or 0, npi or 0)
    international = source.startswith("+")
    text = source[1:] if international else source
    derived = (5, 0)
    if text.isdigit():
        derived = (1, 1) if international or len(text) > 8 else (3, 0)
    return Address(text, derived[0] if ton is None else ton, derived[1] if npi is None else npi)


def priority_flag(priority: int) -> int:
    """The engine's priority 0..4 → SMPP priority_flag 0..3 (4, Extreme, shares the top level with 3)."""
    return min(max(priority, 0), 3)


def absolute_time(moment: datetime) -> str:
    """SMPP 3.4 absolute time ``YYMMDDhhmmsstnnp`` in UTC (a naive datetime is taken to be UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%y%m%d%H%M%S") + "000+"


def decode_short_message(payload: bytes, data_coding: int) -> str:
    """Text of a deliver_sm payload. data_coding 0 is GSM 03.38 unpacked septets, as SMSCs send it; a byte
    above 0x7F there means the SMSC really sends Latin-1, so it is read as such rather than refused."""
    coding = data_coding & 0xFF
    if coding == 0x00 or 0x10 <= coding <= 0x13 or 0xF0 <= coding <= 0xF3:
        try:
            return gsm7_decode(payload)
        except ValueError:
            return payload.decode("latin-1")
    if coding == 0x08 or 0x18 <= coding <= 0x1B:
        return payload.decode("utf-16-be", errors="replace")
    if coding == 0x01:
        return payload.decode("ascii", errors="replace")
    return payload.decode("latin-1")


Concatenation = ConcatInfo


def split_udh(user_data: bytes) -> tuple[ConcatInfo | None, bytes]:
    """Concatenation element and payload; a malformed header from an SMSC is read as plain text, never lost."""
    try:
        return core_split_udh(user_data)
    except ValueError:
        return None, user_data


@dataclass
class _Partial:
    data_coding: int
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)


class MoAssembler:
    """Puts concatenated mobile-originated parts back together; parts of one message may come in any order.

    Payloads are joined before decoding, so an escape sequence or surrogate pair split by a handset survives.
    """

    def __init__(self, ttl: float = 600.0, limit: int = 1000) -> None:
        self.ttl = ttl
        self.limit = limit
        self._partials: dict[tuple[str, str, int, int], _Partial] = {}

    def add(
        self, sender: str, recipient: str, data_coding: int, concat: Concatenation | None, payload: bytes
    ) -> str | None:
        """The whole text when this part completes a message (or is a message on its own), else None."""
        if concat is None or concat.total <= 1:
            return decode_short_message(payload, data_coding)
        now = time.monotonic()
        key = (sender, recipient, concat.reference, concat.total)
        partial = self._partials.get(key)
        if partial is None:
            self._forget_stale(now)
            partial = self._partials[key] = _Partial(data_coding, now)
        partial.parts[concat.sequence] = payload
        if all(n in partial.parts for n in range(1, concat.total + 1)):
            del self._partials[key]
            whole = b"".join(partial.parts[n] for n in range(1, concat.total + 1))
            return decode_short_message(whole, partial.data_coding)
        return None

    def _forget_stale(self, now: float) -> None:
        for key in [k for k, p in self._partials.items() if now - p.started > self.ttl]:
            del self._partials[key]
        while len(self._partials) >= self.limit:
            del self._partials[next(iter(self._partials))]
