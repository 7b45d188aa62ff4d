"""Field codecs shared by the TS 23.040 PDUs: addresses, timestamps, validity period, data coding, a reader.

Kept apart from :mod:`alertcast.core.pdu` so each file stays readable; nothing here knows which PDU it is in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from alertcast.core.sms import ConcatInfo, gsm7_decode, gsm7_encode, pack_septets, unpack_septets
from alertcast.core.sms import concat_from_header as _concat_from_header

Alphabet = Literal["gsm7", "8bit", "ucs2"]

TOA_INTERNATIONAL = 0x91
"""Type of number international, ISDN/telephone numbering plan: a number written with a leading "+"."""
TOA_UNKNOWN = 0x81
"""Type of number unknown, ISDN plan: the network dials the digits as given (national numbers, short codes).
This is what handsets and SMS gateways send for a number without "+"; "national" (0xA1) is refused by some
networks."""
TOA_ALPHANUMERIC = 0xD0
_TYPE_ALPHANUMERIC = 0b101
_TYPE_INTERNATIONAL = 0b001
MAX_ADDRESS_DIGITS = 20


class PduReader:
    """Reads a PDU front to back and names the field and offset when the input runs out."""

    def __init__(self, data: bytes, kind: str) -> None:
        self.data = data
        self.kind = kind
        self.offset = 0

    def take(self, count: int, field: str) -> bytes:
        end = self.offset + count
        if end > len(self.data):
            raise ValueError(
                f"{self.kind} PDU too short: {field} needs {count} octet(s) at offset {self.offset}, "
                f"only {len(self.data) - self.offset} left"
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def octet(self, field: str) -> int:
        return self.take(1, field)[0]

    def rest(self) -> bytes:
        return self.data[self.offset :]


def parse_hex(hex_text: str, kind: str) -> bytes:
    cleaned = "".join(hex_text.split())
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"{kind} PDU is not an even-length hexadecimal string: {hex_text[:40]!r}") from None


def _digits_to_semi_octets(digits: str) -> bytes:
    padded = digits + "F" * (len(digits) % 2)
    return bytes(int(padded[index + 1] + padded[index], 16) for index in range(0, len(padded), 2))


def _semi_octets_to_digits(data: bytes, count: int) -> str:
    digits = "".join(f"{octet & 0x0F:X}{octet >> 4:X}" for octet in data)[:count]
    if any(digit not in "0123456789*#ABC" for digit in digits):
        raise ValueError(f"address has a semi-octet that is not a digit: {data.hex().upper()}")
    return digits.replace("A", "*").replace("B", "#")


def _split_number(number: str) -> tuple[int, str]:
    cleaned = number.strip()
    international = cleaned.startswith("+")
    digits = cleaned[1:] if international else cleaned
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"phone number {number!r} must be digits with an optional leading '+'")
    if len(digits) > MAX_ADDRESS_DIGITS:
        raise ValueError(f"phone number {number!r} has {len(digits)} digits; at most {MAX_ADDRESS_DIGITS}")
    return (TOA_INTERNATIONAL if international else TOA_UNKNOWN), digits


def encode_address(address: str, *, allow_alphanumeric: bool = False) -> bytes:
    """TP-DA / TP-OA / TP-RA: digit count, type of address, digits as swapped semi-octets.

    An alphanumeric sender ("ALERTS") is allowed where the network would send one (SMS-DELIVER); its
    length counts the semi-octets its packed GSM 7-bit characters use.
    """
    stripped = address.strip().lstrip("+")
    if allow_alphanumeric and not (stripped.isascii() and stripped.isdigit()):
        septets = gsm7_encode(address)
        if len(septets) > 11:
            raise ValueError(
                f"alphanumeric address {address!r} is {len(septets)} septets long; at most 11 fit"
            )
        packed = pack_septets(septets)
        semi_octets = math.ceil(len(septets) * 7 / 4)
        return bytes((semi_octets, TOA_ALPHANUMERIC)) + packed
    type_of_address, digits = _split_number(address)
    return bytes((len(digits), type_of_address)) + _digits_to_semi_octets(digits)


def decode_address(reader: PduReader, field: str) -> str:
    """The address at the reader's position; international numbers come back with a leading "+"."""
    semi_octets = reader.octet(f"{field} length")
    type_of_address = reader.octet(f"{field} type")
    value = reader.take((semi_octets + 1) // 2, field)
    type_of_number = (type_of_address >> 4) & 0b111
    if type_of_number == _TYPE_ALPHANUMERIC:
        return gsm7_decode(unpack_septets(value, semi_octets * 4 // 7))
    digits = _semi_octets_to_digits(value, semi_octets)
    return "+" + digits if type_of_number == _TYPE_INTERNATIONAL else digits


def encode_service_centre(number: str | None) -> bytes:
    """The SCA prefix of a PDU in AT mode: "00" asks the modem to use the SMSC stored on the SIM."""
    if number is None:
        return b"\x00"
    type_of_address, digits = _split_number(number)
    body = bytes((type_of_address,)) + _digits_to_semi_octets(digits)
    return bytes((len(body),)) + body


def decode_service_centre(reader: PduReader) -> str | None:
    length = reader.octet("SCA length")
    if length == 0:
        return None
    body = reader.take(length, "SCA")
    value = body[1:]
    count = 2 * len(value) - (1 if value and value[-1] >> 4 == 0xF else 0)
    digits = _semi_octets_to_digits(value, count)
    return "+" + digits if (body[0] >> 4) & 0b111 == _TYPE_INTERNATIONAL else digits


def _bcd(value: int) -> int:
    return ((value % 10) << 4) | (value // 10)


def _from_bcd(octet: int, field: str) -> int:
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise ValueError(f"{field}: octet 0x{octet:02X} is not two decimal semi-octets")
    return low * 10 + high


def encode_timestamp(moment: datetime) -> bytes:
    """TP-SCTS / TP-DT: year to second as swapped semi-octets, then the UTC offset in quarter hours."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"timestamp {moment.isoformat()} has no time zone; SMS timestamps carry one")
    quarters, remainder = divmod(abs(int(offset.total_seconds())), 15 * 60)
    if remainder or quarters > 79:
        raise ValueError(f"time zone offset {offset} is not a whole number of quarter hours within ±19:45")
    zone = _bcd(quarters) | (0x08 if offset < timedelta(0) else 0)
    fields = (moment.year % 100, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    return bytes(_bcd(value) for value in fields) + bytes((zone,))


def decode_timestamp(reader: PduReader, field: str) -> datetime:
    raw = reader.take(7, field)
    year, month, day, hour, minute, second = (_from_bcd(octet, field) for octet in raw[:6])
    zone = raw[6]
    quarters = _from_bcd(zone & 0xF7, field)
    offset = timedelta(minutes=15 * quarters) * (-1 if zone & 0x08 else 1)
    # Two-digit years: TS 23.040 leaves the century open; SMS did not exist before 1990.
    century = 1900 if year >= 90 else 2000
    try:
        return datetime(century + year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError as error:
        raise ValueError(f"{field}: {raw.hex().upper()} is not a valid date and time ({error})") from None


def relative_validity_octet(minutes: int) -> int:
    """TP-VP (relative format) for a validity of ``minutes``, rounded down to a value the format can say.

    Rounding down means a message never outlives the alert that caused it; below the smallest step
    (5 minutes) the smallest step is used.
    """
    if minutes <= 0:
        raise ValueError(f"validity must be a positive number of minutes, got {minutes}")
    if minutes <= 12 * 60:
        return max(minutes // 5 - 1, 0)
    if minutes <= 24 * 60:
        return 143 + (minutes - 12 * 60) // 30
    days = minutes // (24 * 60)
    if days < 2:
        return 167
    if days <= 30:
        return 166 + days
    weeks = minutes // (7 * 24 * 60)
    return 196 if weeks < 5 else min(192 + weeks, 255)


def validity_minutes(octet: int) -> int:
    """Minutes a relative TP-VP octet stands for (TS 23.040 §9.2.3.12.1)."""
    if octet <= 143:
        return (octet + 1) * 5
    if octet <= 167:
        return 12 * 60 + (octet - 143) * 30
    if octet <= 196:
        return (octet - 166) * 24 * 60
    return (octet - 192) * 7 * 24 * 60


def alphabet_of(dcs: int) -> Alphabet:
    """The character set a TP-DCS value selects (TS 23.038 §4); reserved values read as GSM 7-bit."""
    group = dcs >> 4
    if group <= 0x7:
        if dcs & 0x20:
            raise ValueError(f"TP-DCS 0x{dcs:02X} announces compressed text, which is not supported")
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0b11]
    if group == 0xE:
        return "ucs2"
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


@dataclass(frozen=True, slots=True)
class UserData:
    alphabet: Alphabet
    payload: bytes
    """Septets for gsm7 (one per byte), the raw octets otherwise: what reassembly of parts joins."""
    text: str
    concat: ConcatInfo | None


def decode_text(alphabet: Alphabet, payload: bytes) -> str:
    """Text of a payload; 8-bit data is shown as Latin-1 so nothing is lost, UCS-2 halves as U+FFFD."""
    if alphabet == "gsm7":
        return gsm7_decode(payload)
    if alphabet == "ucs2":
        return payload[: len(payload) // 2 * 2].decode("utf-16-be", "replace")
    return payload.decode("latin-1")


def read_user_data(reader: PduReader, dcs: int, has_header: bool) -> UserData:
    alphabet = alphabet_of(dcs)
    length = reader.octet("TP-UDL")
    octets = math.ceil(length * 7 / 8) if alphabet == "gsm7" else length
    if octets > 140:
        raise ValueError(f"TP-UDL {length} means {octets} octets of user data; at most 140 fit an SMS")
    data = reader.take(octets, "TP-UD")
    header = b""
    if has_header:
        header_length = data[0] if data else 0
        header = data[1 : 1 + header_length]
        if len(header) < header_length:
            raise ValueError(f"user data header length {header_length} is longer than the user data")
    concat = _concat_from_header(header) if has_header else None
    if alphabet == "gsm7":
        header_bits = (len(header) + 1) * 8 if has_header else 0
        header_septets = math.ceil(header_bits / 7)
        if header_septets > length:
            raise ValueError(f"user data header ({header_septets} septets) is longer than TP-UDL {length}")
        start = len(header) + 1 if has_header else 0
        payload = unpack_septets(data[start:], length - header_septets, header_septets * 7 - header_bits)
    else:
        payload = data[len(header) + 1 :] if has_header else data
    return UserData(alphabet, payload, decode_text(alphabet, payload), concat)


def write_user_data(payload: bytes, alphabet: Literal["gsm7", "ucs2"], header: bytes) -> bytes:
    """TP-UDL and TP-UD; in 7-bit mode the text starts on a septet boundary after the header (fill bits)."""
    with_length = bytes((len(header),)) + header if header else b""
    if alphabet == "ucs2":
        return bytes((len(with_length) + len(payload),)) + with_length + payload
    header_bits = len(with_length) * 8
    header_septets = math.ceil(header_bits / 7)
    packed = pack_septets(payload, header_septets * 7 - header_bits)
    return bytes((header_septets + len(payload),)) + with_length + packed
